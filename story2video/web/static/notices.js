// Readable messages: error notices (with retry and countdown) and inline field errors.

import { h } from "./dom.js";
import { has, t } from "./i18n.js";

/** Title and detail lines for an ApiError (or any Error) in the current language. */
export function describeError(error) {
  const code = error.code || "internal_error";
  const title = has(`error.title.${code}`) ? t(`error.title.${code}`) : t("error.generic");
  const lines = [];
  if (code === "network") lines.push(t("error.network"));
  else if (code === "stream") lines.push(t("error.stream"));
  else if (error.message && error.message !== code) lines.push(fieldMessage(error));
  if (error.stage) {
    const stage = has(`stage.${error.stage}`) ? t(`stage.${error.stage}`) : error.stage;
    const shot = error.shotLabel || error.shotId;
    lines.push(shot ? t("error.whereShot", { stage, shot }) : t("error.where", { stage }));
  }
  if (error.backend) lines.push(t("error.backend", { backend: error.backend }));
  return { title, lines, status: error.status || null };
}

/** "Script: String should have at least 1 character" — the field's label in front of the service's message. */
export function fieldMessage(error) {
  const label = error.param && FIELD_LABELS[error.param];
  if (!label) return error.message;
  const bare = error.message.startsWith(`${error.param}: `) ? error.message.slice(error.param.length + 2) : error.message;
  return t("error.field", { field: t(label), message: bare });
}

const FIELD_LABELS = {
  script_content: "form.script",
  display_name: "form.title",
  style: "form.style",
  shot_count: "form.shots",
  aspect_ratio: "form.aspect",
  voice: "form.voice",
  user_id: "user.label",
  subject: "shot.subject",
  detail: "shot.detail",
  narration: "shot.narration",
  camera: "shot.camera",
  tone: "shot.tone",
  image_upload_id: "shot.picture",
  music_upload_id: "form.musicFile",
  name: "cast.field.name",
  appearance: "cast.field.appearance",
  gender: "cast.field.gender",
  age: "cast.field.age",
  timbre: "cast.field.timbre",
  reference_upload_id: "cast.picture",
  redraw_reference: "cast.redraw",
};

/** A list of notices in one container; each has a key, so showing the same key again replaces it. */
export class Notices {
  constructor(container) {
    this.container = container;
    this.items = new Map();
  }

  /** error: an ApiError/Error. options.retry: a function for the "Try again" button. options.tone: "error" | "warning". */
  showError(key, error, { retry = null, tone = "error" } = {}) {
    const { title, lines, status } = describeError(error);
    this.show(key, { title, lines, status, tone, retry, retryAfter: error.code === "queue_full" ? error.retryAfter : null });
  }

  show(key, { title, lines = [], status = null, tone = "error", retry = null, retryAfter = null }) {
    this.clear(key);
    const detail = h("div", { class: "notice-lines" }, lines.map((line) => h("p", {}, line)));
    const queueLine = retryAfter !== null ? h("p", { class: "notice-retry-text" }) : null;
    const retryButton = retry ? h("button", { type: "button", class: "button button-small button-secondary", onclick: () => { this.clear(key); retry(); } }, t("error.retry")) : null;
    const dismiss = h("button", { type: "button", class: "icon-button", "aria-label": t("error.dismiss"), title: t("error.dismiss"), onclick: () => this.clear(key) }, "×");
    const heading = h("p", { class: "notice-title" }, title, status ? h("span", { class: "notice-status" }, t("error.status", { status })) : null);
    const el = h(
      "div",
      { class: `notice notice-${tone}`, role: tone === "error" ? "alert" : "status", dataset: { key } },
      h("div", { class: "notice-body" }, heading, detail, queueLine, retryButton ? h("div", { class: "notice-actions" }, retryButton) : null),
      dismiss,
    );
    let countdown = null;
    if (queueLine) countdown = startCountdown(retryAfter, queueLine, retryButton);
    this.items.set(key, { el, countdown });
    this.container.append(el);
    return el;
  }

  clear(key) {
    const item = this.items.get(key);
    if (!item) return;
    clearInterval(item.countdown);
    item.el.remove();
    this.items.delete(key);
  }

  clearAll() {
    for (const key of [...this.items.keys()]) this.clear(key);
  }
}

function startCountdown(seconds, line, button) {
  const ends = Date.now() + seconds * 1000;
  const tick = () => {
    const left = Math.max(0, Math.ceil((ends - Date.now()) / 1000));
    line.textContent = left > 0 ? t("error.retryIn", { s: left }) : t("error.retryNow");
    if (button) button.disabled = left > 0;
    if (left === 0) clearInterval(timer);
  };
  const timer = setInterval(tick, 1000);
  tick();
  return timer;
}

// ------------------------------------------------------------------ field errors

function errorElementFor(input) {
  const id = `${input.id}-error`;
  let el = document.getElementById(id);
  if (!el) {
    el = h("p", { id, class: "field-error", hidden: true });
    (input.closest(".field") || input).append(el);
  }
  return el;
}

export function setFieldError(input, message) {
  const el = errorElementFor(input);
  el.textContent = message;
  el.hidden = false;
  input.setAttribute("aria-invalid", "true");
  const described = new Set((input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean));
  described.add(el.id);
  input.setAttribute("aria-describedby", [...described].join(" "));
}

export function clearFieldError(input) {
  input.removeAttribute("aria-invalid");
  const el = document.getElementById(`${input.id}-error`);
  if (el) {
    el.hidden = true;
    el.textContent = "";
  }
}

export function clearFieldErrors(root) {
  for (const input of root.querySelectorAll("[aria-invalid]")) clearFieldError(input);
}
