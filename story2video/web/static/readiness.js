// The header's backend indicator: GET /ready, one line per stage (backend, model, ready or why not).

import { api } from "./api.js";
import { h, $ } from "./dom.js";
import { has, t } from "./i18n.js";

export class Readiness {
  constructor(root) {
    this.root = root;
    this.text = $("#readiness-text", root);
    this.list = $("#readiness-list", root);
    this.data = null;
    this.error = null;
  }

  async check() {
    try {
      this.data = await api.ready();
      this.error = null;
    } catch (error) {
      this.data = null;
      this.error = error;
    }
    this.render();
  }

  render() {
    const { data, error } = this;
    const status = error ? "unreachable" : !data ? "checking" : data.ready ? "ok" : "bad";
    this.root.dataset.status = status;
    this.text.textContent = t(`ready.${status}`);
    if (error) {
      this.list.replaceChildren(h("li", { class: "readiness-error" }, error.message || t("error.network")));
      return;
    }
    if (!data) return;
    const mode = h("li", { class: "readiness-mode" }, t(`ready.mode.${data.mode}`));
    const rows = data.backends.map((backend) => {
      const stage = has(`ready.stage.${backend.stage}`) ? t(`ready.stage.${backend.stage}`) : backend.stage;
      return h(
        "li",
        { class: backend.ready ? "is-ready" : "is-down", dataset: { stage: backend.stage } },
        h("span", { class: "dot", "aria-hidden": "true" }),
        h("strong", {}, stage),
        ` ${backend.backend}`,
        backend.model ? h("span", { class: "muted" }, ` · ${backend.model}`) : null,
        backend.ready ? null : h("span", { class: "readiness-detail" }, ` — ${t("ready.notReady")}: ${backend.detail || ""}`),
      );
    });
    this.list.replaceChildren(mode, ...rows);
  }
}
