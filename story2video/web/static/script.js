// "Start from an idea": writes a script (POST /api/v1/scripts), shows it as it streams in (the operation's
// events, read with fetch so the API key goes along; a dropped stream resumes with Last-Event-ID), lets people
// edit an episode (PATCH) and hands an episode to the storyboard (storyboard/create with script_id + episode).

import { ApiError, apiKey, apiUrl, newId } from "./api.js";
import { $, clear, h } from "./dom.js";
import { addStrings, t } from "./i18n.js";
import { Notices } from "./notices.js";

addStrings({
  en: {
    "idea.heading": "Start from an idea",
    "idea.premise": "Idea",
    "idea.premise.placeholder": "A rookie reporter uncovers a scandal at her own paper…",
    "idea.genre": "Genre",
    "idea.duration": "Length of an episode",
    "idea.duration.placeholder": "3 minutes",
    "idea.episodes": "Episodes",
    "idea.characters": "Characters",
    "idea.characters.hint": "One per line or separated by semicolons: name, gender, age (e.g. Zhang Ming, male, 28). Empty: the writer invents them.",
    "idea.write": "Write script",
    "idea.writing": "Writing…",
    "idea.cancel": "Stop writing",
    "idea.cast": "Cast",
    "idea.outline": "Outline",
    "idea.status.writing": "Writing the script…",
    "idea.status.done": "Script written.",
    "idea.status.cancelled": "Stopped. What was written is kept.",
    "idea.status.failed": "The script could not be written.",
    "idea.state.waiting": "waiting",
    "idea.state.writing": "writing…",
    "idea.state.done": "written",
    "idea.state.edited": "edited",
    "idea.state.cancelled": "stopped",
    "idea.state.failed": "failed",
    "idea.state.interrupted": "interrupted",
    "idea.episode": "Episode {n}",
    "idea.save": "Save edit",
    "idea.saved": "Saved.",
    "idea.storyboard": "Make storyboard",
    "idea.validate.premise": "Describe the idea first.",
  },
  zh: {
    "idea.heading": "从一个想法开始",
    "idea.premise": "想法",
    "idea.premise.placeholder": "实习生张明在一次失误后被迫与上司合作，揭开了公司的秘密……",
    "idea.genre": "题材",
    "idea.duration": "每集时长",
    "idea.duration.placeholder": "3分钟",
    "idea.episodes": "集数",
    "idea.characters": "角色",
    "idea.characters.hint": "每行一个或用分号隔开：姓名,性别,年龄（如 张明,男,28）。留空则由编剧设定。",
    "idea.write": "生成剧本",
    "idea.writing": "正在写…",
    "idea.cancel": "停止",
    "idea.cast": "角色表",
    "idea.outline": "分集目录",
    "idea.status.writing": "正在写剧本……",
    "idea.status.done": "剧本已写好。",
    "idea.status.cancelled": "已停止，已写的内容保留。",
    "idea.status.failed": "剧本没能写成。",
    "idea.state.waiting": "等待中",
    "idea.state.writing": "正在写…",
    "idea.state.done": "已写好",
    "idea.state.edited": "已修改",
    "idea.state.cancelled": "已停止",
    "idea.state.failed": "失败",
    "idea.state.interrupted": "已中断",
    "idea.episode": "第 {n} 集",
    "idea.save": "保存修改",
    "idea.saved": "已保存。",
    "idea.storyboard": "生成分镜",
    "idea.validate.premise": "请先写下想法。",
  },
});

const RECONNECTS = 5;
const ENDINGS = new Set(["operation.completed", "operation.failed", "operation.cancelled"]);

/** Reads an SSE response body; calls onEvent(type, data, id) for each event. */
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    const blocks = buffer.split("\n\n");
    buffer = blocks.pop() || "";
    for (const block of blocks) {
      let type = "message";
      let id = null;
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) type = line.slice(7);
        else if (line.startsWith("id: ")) id = Number(line.slice(4));
        else if (line.startsWith("data: ")) data.push(line.slice(6));
      }
      if (data.length) onEvent(type, JSON.parse(data.join("\n")), id);
    }
  }
}

export class ScriptPanel {
  constructor(root, { userId, onStoryboard }) {
    this.root = root;
    this.userId = userId;
    this.onStoryboard = onStoryboard;
    this.script = null; // {script_id, operation_id, status, cast, outline, episodes: {n: {...}}}
    this.lastEventId = 0;
    this.build();
  }

  build() {
    this.premise = h("textarea", { id: "idea-premise", rows: 3, maxlength: 4000 });
    this.genre = h("input", { id: "idea-genre", maxlength: 100, autocomplete: "off" });
    this.duration = h("input", { id: "idea-duration", maxlength: 40, autocomplete: "off", value: "" });
    this.episodes = h("input", { id: "idea-episodes", type: "number", min: 1, max: 20, step: 1, value: "2", inputmode: "numeric" });
    this.characters = h("textarea", { id: "idea-characters", rows: 2, "aria-describedby": "idea-characters-hint" });
    this.writeButton = h("button", { type: "submit", class: "button button-primary button-block", id: "idea-write" });
    this.cancelButton = h("button", { type: "button", class: "button button-small button-ghost", id: "idea-cancel", hidden: true, onclick: () => this.cancel() });
    this.status = h("p", { id: "idea-status", class: "muted", "aria-live": "polite" });
    this.castList = h("ul", { id: "idea-cast", class: "idea-cast" });
    this.outlineList = h("ol", { id: "idea-outline", class: "idea-outline" });
    this.episodeList = h("div", { id: "idea-episodes-list", class: "idea-episodes" });
    this.notices = new Notices(h("div", { class: "notices" }));
    this.form = h(
      "form",
      { id: "idea-form", novalidate: true, onsubmit: (event) => { event.preventDefault(); this.write(); } },
      this.field("idea-premise", "idea.premise", this.premise),
      h("div", { class: "idea-row" }, this.field("idea-genre", "idea.genre", this.genre), this.field("idea-duration", "idea.duration", this.duration),
        this.field("idea-episodes", "idea.episodes", this.episodes)),
      this.field("idea-characters", "idea.characters", this.characters, h("p", { id: "idea-characters-hint", class: "hint", dataset: { i18n: "idea.characters.hint" } })),
      this.notices.container,
      this.writeButton,
    );
    this.view = h("div", { id: "idea-script", class: "idea-script", hidden: true },
      h("div", { class: "panel-head" }, this.status, this.cancelButton),
      h("h3", { dataset: { i18n: "idea.cast" } }), this.castList,
      h("h3", { dataset: { i18n: "idea.outline" } }), this.outlineList,
      this.episodeList);
    clear(this.root).append(h("div", { class: "panel-head" }, h("h2", { id: "idea-heading", dataset: { i18n: "idea.heading" } })), this.form, this.view);
    this.render();
  }

  field(id, key, input, ...extra) {
    return h("div", { class: "field" }, h("label", { for: id, dataset: { i18n: key } }), input, ...extra);
  }

  render() {
    this.premise.placeholder = t("idea.premise.placeholder");
    this.duration.placeholder = t("idea.duration.placeholder");
    this.writeButton.textContent = this.writing ? t("idea.writing") : t("idea.write");
    this.writeButton.disabled = Boolean(this.writing);
    this.cancelButton.textContent = t("idea.cancel");
    this.cancelButton.hidden = !this.writing;
    for (const el of this.root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    if (this.script) this.renderScript();
  }

  // ---------------------------------------------------------------- writing and following

  async write() {
    this.notices.clearAll();
    const premise = this.premise.value.trim();
    if (!premise) {
      this.notices.show("idea", { title: t("idea.validate.premise"), lines: [] });
      this.premise.focus();
      return;
    }
    const scriptId = newId("script");
    const body = {
      operation_id: newId("op"),
      user_id: this.userId(),
      script_id: scriptId,
      premise,
      genre: this.genre.value.trim(),
      duration: this.duration.value.trim(),
      episodes: Math.max(1, Number(this.episodes.value) || 1),
      characters: this.characters.value.trim(),
    };
    this.writing = true;
    this.render();
    let op;
    try {
      op = await post("scripts", body);
    } catch (error) {
      this.writing = false;
      this.render();
      this.notices.showError("idea", error, { retry: () => this.write() });
      return;
    }
    this.script = { script_id: scriptId, operation_id: op.operation_id, user_id: body.user_id, status: "writing", cast: [], outline: [], episodes: {} };
    for (let n = 1; n <= body.episodes; n += 1) this.script.episodes[n] = { episode: n, title: "", text: "", state: "waiting", scenes: 0 };
    this.lastEventId = 0;
    this.view.hidden = false;
    this.renderScript();
    await this.follow();
  }

  async follow() {
    const { operation_id: operationId, user_id: userId } = this.script;
    for (let attempt = 0; attempt <= RECONNECTS && this.writing; attempt += 1) {
      try {
        const headers = { Accept: "text/event-stream", "Last-Event-ID": String(this.lastEventId) };
        if (apiKey()) headers["X-API-Key"] = apiKey();
        const response = await fetch(apiUrl(`operations/${encodeURIComponent(operationId)}/events`, { user_id: userId }), { headers });
        if (!response.ok) throw new ApiError({ status: response.status, code: "http_error", message: `${response.status}` });
        await readEvents(response, (type, data, id) => this.apply(type, data, id));
      } catch (error) {
        if (attempt === RECONNECTS) this.notices.showError("idea", error, {});
        await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)));
      }
    }
    await this.reload();
  }

  apply(type, data, id) {
    if (id) this.lastEventId = id;
    const script = this.script;
    if (type === "script.delta" && data.part === "episode") {
      const episode = script.episodes[data.episode];
      episode.text = episode.text.slice(0, data.offset) + data.text;
      episode.state = "writing";
    } else if (type === "script.restart" && data.part === "episode") {
      script.episodes[data.episode].text = "";
    } else if (type === "script.cast") {
      script.cast = data.cast;
    } else if (type === "script.outline") {
      script.outline = data.outline;
      for (const plan of data.outline) Object.assign(script.episodes[plan.episode], { title: plan.title, summary: plan.summary });
    } else if (type === "script.episode") {
      Object.assign(script.episodes[data.episode], { text: data.text, state: "done", scenes: data.scenes });
    } else if (ENDINGS.has(type)) {
      script.status = { "operation.completed": "done", "operation.failed": "failed", "operation.cancelled": "cancelled" }[type];
      this.writing = false;
      if (data.error && type === "operation.failed") this.notices.showError("idea", ApiError.fromBody(data.error), {});
      this.render();
      return;
    } else {
      return;
    }
    this.renderScript();
  }

  async reload() {
    this.writing = false;
    try {
      const script = await get(`scripts/${encodeURIComponent(this.script.script_id)}`, { user_id: this.script.user_id });
      this.script = { ...script, episodes: Object.fromEntries(script.episodes.map((episode) => [episode.episode, episode])) };
    } catch (error) {
      this.notices.showError("idea", error, { retry: () => this.reload() });
    }
    this.render();
  }

  async cancel() {
    if (!this.script) return;
    try {
      await post(`operations/${encodeURIComponent(this.script.operation_id)}/cancel`, undefined, { user_id: this.script.user_id });
    } catch (error) {
      this.notices.showError("idea", error, {});
    }
  }

  // ---------------------------------------------------------------- showing

  renderScript() {
    const script = this.script;
    this.status.textContent = t(`idea.status.${script.status === "interrupted" ? "failed" : script.status}`);
    this.status.dataset.status = script.status;
    clear(this.castList).append(...script.cast.map((c) => h("li", { dataset: { character: c.id } }, h("strong", {}, c.name), " ", h("span", { class: "muted" }, c.appearance))));
    clear(this.outlineList).append(...script.outline.map((plan) => h("li", {}, h("strong", {}, plan.title), " ", plan.summary)));
    for (const episode of Object.values(script.episodes)) this.renderEpisode(episode);
  }

  renderEpisode(episode) {
    let card = this.episodeList.querySelector(`[data-episode="${episode.episode}"]`);
    const written = episode.state === "done" || episode.state === "edited";
    if (!card) {
      card = h("article", { class: "idea-episode", dataset: { episode: String(episode.episode) } },
        h("h3", { class: "idea-episode-title" }), h("p", { class: "idea-episode-state muted" }),
        h("pre", { class: "idea-episode-text" }),
        h("textarea", { class: "idea-episode-edit", rows: 10, hidden: true, "aria-label": t("idea.episode", { n: episode.episode }) }),
        h("div", { class: "idea-episode-actions", hidden: true },
          h("button", { type: "button", class: "button button-small button-secondary idea-save", onclick: () => this.save(episode.episode) }),
          h("button", { type: "button", class: "button button-small button-primary idea-storyboard", onclick: () => this.toStoryboard(episode.episode) })),
        h("p", { class: "idea-episode-note muted", role: "status" }));
      this.episodeList.append(card);
    }
    card.dataset.state = episode.state;
    card.querySelector(".idea-episode-title").textContent = `${t("idea.episode", { n: episode.episode })}${episode.title ? ` · ${episode.title}` : ""}`;
    card.querySelector(".idea-episode-state").textContent = t(`idea.state.${episode.state}`);
    const pre = card.querySelector(".idea-episode-text");
    const edit = card.querySelector(".idea-episode-edit");
    pre.hidden = written;
    pre.textContent = episode.text;
    if (written && edit.hidden) edit.value = episode.text; // keep what someone is typing
    edit.hidden = !written;
    card.querySelector(".idea-episode-actions").hidden = !written;
    card.querySelector(".idea-save").textContent = t("idea.save");
    card.querySelector(".idea-storyboard").textContent = t("idea.storyboard");
  }

  async save(number) {
    const card = this.episodeList.querySelector(`[data-episode="${number}"]`);
    const note = card.querySelector(".idea-episode-note");
    try {
      const script = await request("PATCH", `scripts/${encodeURIComponent(this.script.script_id)}/episodes/${number}`, {
        user_id: this.script.user_id,
        text: card.querySelector(".idea-episode-edit").value,
      });
      this.script = { ...script, episodes: Object.fromEntries(script.episodes.map((episode) => [episode.episode, episode])) };
      this.renderScript();
      note.textContent = t("idea.saved");
    } catch (error) {
      this.notices.showError("idea", error, {});
    }
  }

  toStoryboard(number) {
    const episode = this.script.episodes[number];
    const title = `${this.script.title || ""} ${t("idea.episode", { n: number })}`.trim();
    this.onStoryboard({ scriptId: this.script.script_id, episode: number, title: episode.title ? `${title} · ${episode.title}` : title });
  }
}

// ------------------------------------------------------------------ requests

async function request(method, path, body, query) {
  const headers = { Accept: "application/json" };
  if (apiKey()) headers["X-API-Key"] = apiKey();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method === "POST") headers.Prefer = "respond-async";
  let response;
  try {
    response = await fetch(apiUrl(path, query), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ApiError({ status: 0, code: "network", message: error.message });
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    if (data && data.error) throw ApiError.fromBody(data.error, response.status);
    throw new ApiError({ status: response.status, code: "http_error", message: `${response.status} ${response.statusText}` });
  }
  return data;
}

const post = (path, body, query) => request("POST", path, body, query);
const get = (path, query) => request("GET", path, undefined, query);
