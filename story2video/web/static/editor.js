// The shot editor: a modal <dialog> (focus stays inside, Escape closes) with the keyframe beside its words.

import { h } from "./dom.js";
import { t } from "./i18n.js";
import { Notices, clearFieldErrors, fieldMessage, setFieldError } from "./notices.js";

export const EDITABLE_FIELDS = ["subject", "detail", "narration", "camera", "tone"];
const MULTILINE = new Set(["detail", "narration"]);

export class ShotEditor {
  /** submit(fields) resolves once the operation started, or throws an ApiError; onClose runs after the dialog closed. */
  constructor(shot, imageUrl, { submit, onClose }) {
    this.shot = shot;
    this.submitAction = submit;
    this.sending = false;
    this.busy = false;
    this.inputs = {};
    this.labels = {};
    const fields = EDITABLE_FIELDS.map((name) => {
      const id = `edit-${shot.id}-${name}`;
      const input = MULTILINE.has(name) ? h("textarea", { id, name, rows: 3 }) : h("input", { id, name, autocomplete: "off" });
      input.value = shot[name] || "";
      this.inputs[name] = input;
      this.labels[name] = h("label", { for: id });
      return h("div", { class: `field field-${name}` }, this.labels[name], input);
    });
    const titleId = `edit-${shot.id}-title`;
    this.title = h("h2", { id: titleId });
    this.closeButton = h("button", { type: "button", class: "icon-button", onclick: () => this.close() }, "×");
    this.preview = imageUrl ? h("img", { class: "editor-image", src: imageUrl, alt: "" }) : h("div", { class: "editor-image editor-image-empty" });
    this.notices = new Notices(h("div", { class: "notices" }));
    this.hint = h("p", { class: "hint" });
    this.submitButton = h("button", { type: "submit", class: "button button-primary" });
    this.cancelButton = h("button", { type: "button", class: "button button-secondary", onclick: () => this.close() });
    this.form = h(
      "form",
      { class: "editor-form", novalidate: true },
      h("div", { class: "editor-fields" }, fields),
      this.hint,
      this.notices.container,
      h("div", { class: "editor-actions" }, this.submitButton, this.cancelButton),
    );
    this.dialog = h(
      "dialog",
      { class: "shot-dialog", "aria-labelledby": titleId, dataset: { shotId: shot.id } },
      h("div", { class: "editor-head" }, this.title, this.closeButton),
      h("div", { class: "editor-body" }, h("div", { class: "editor-preview" }, this.preview), this.form),
    );
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.dialog.addEventListener("close", () => {
      this.dialog.remove();
      onClose();
    });
    this.translate();
  }

  open(aspect) {
    this.dialog.dataset.aspect = aspect;
    document.body.append(this.dialog);
    this.dialog.showModal();
    this.inputs.subject.focus();
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  translate() {
    this.title.textContent = t("shot.edit", { n: this.shot.sequence });
    for (const name of EDITABLE_FIELDS) this.labels[name].textContent = t(`shot.${name}`);
    this.closeButton.setAttribute("aria-label", t("shot.cancelEdit"));
    this.preview.alt = t("shot.imageAlt", { n: this.shot.sequence, subject: this.shot.subject });
    this.hint.textContent = t("shot.regenerate.hint");
    this.submitButton.textContent = t("shot.regenerate");
    this.cancelButton.textContent = t("shot.cancelEdit");
  }

  /** While an operation of this story runs, the shot cannot be regenerated (it would only wait in line). */
  setBusy(busy) {
    this.busy = busy;
    this.submitButton.disabled = busy || this.sending;
  }

  async submit() {
    clearFieldErrors(this.form);
    this.notices.clearAll();
    const fields = {};
    for (const name of EDITABLE_FIELDS) fields[name] = this.inputs[name].value.trim();
    const empty = EDITABLE_FIELDS.find((name) => !fields[name]);
    if (empty) {
      setFieldError(this.inputs[empty], t("validate.empty"));
      this.inputs[empty].focus();
      return;
    }
    this.sending = true;
    this.submitButton.disabled = true;
    try {
      await this.submitAction(fields);
      this.close();
    } catch (error) {
      this.showError(error);
    } finally {
      this.sending = false;
      this.submitButton.disabled = this.busy;
    }
  }

  showError(error) {
    const input = error.param && this.inputs[error.param];
    if (input) {
      setFieldError(input, fieldMessage(error));
      input.focus();
    }
    this.notices.showError("regenerate", error, { retry: () => this.submit() });
  }
}
