// The keyframe grid: one card per shot with its state, keyframe, words and backends; Edit opens the shot editor.

import { h } from "./dom.js";
import { ShotEditor } from "./editor.js";
import { t } from "./i18n.js";
const ARTIFACT_KINDS = ["image", "audio", "video"];
const PLACEHOLDER_CARDS = 3;

/** The state a card shows: the operation's view of the shot if it has one, else what the story says. */
export function shotProgress(shot, op) {
  const progress = op && op.shots ? op.shots[shot.id] : null;
  if (progress) return progress;
  return { state: shot.image_url ? "done" : "none" };
}

export class ShotGrid {
  /**
   * onRegenerate(shot, fields) resolves once the operation has started; it throws an ApiError if it could not.
   * onUpload(file) stores the person's picture and resolves to the Upload (or throws an ApiError).
   */
  constructor(list, { onRegenerate, onUpload }) {
    this.list = list;
    this.onRegenerate = onRegenerate;
    this.onUpload = onUpload;
    this.cards = new Map();
    this.active = null; // {card, editor} while the shot editor is open
    this.aspect = "16:9";
  }

  /** story: the Story resource; op: the operation of this story to show (or null); busy: an operation is running. */
  render(story, op, busy) {
    const shots = story ? story.shots : [];
    const wanted = new Set(shots.map((shot) => shot.id));
    for (const [id, card] of this.cards) {
      if (!wanted.has(id)) {
        card.root.remove();
        this.cards.delete(id);
      }
    }
    for (const el of this.list.querySelectorAll(".shot-skeleton")) el.remove();
    shots.forEach((shot, index) => {
      let card = this.cards.get(shot.id);
      if (!card) {
        card = this.createCard(shot.id);
        this.cards.set(shot.id, card);
      }
      if (this.list.children[index] !== card.root) this.list.insertBefore(card.root, this.list.children[index] || null);
      this.updateCard(card, shot, shotProgress(shot, op), story, busy);
    });
    if (!shots.length && busy) {
      for (let i = 0; i < PLACEHOLDER_CARDS; i += 1) this.list.append(skeletonCard());
    }
    this.aspect = story ? story.aspect_ratio : "16:9";
    this.list.dataset.aspect = this.aspect;
    if (this.active) this.active.editor.setBusy(busy);
  }

  createCard(id) {
    const titleId = `shot-${id}-title`;
    const img = h("img", { class: "shot-image", hidden: true, decoding: "async" });
    const placeholder = h("div", { class: "shot-placeholder" }, h("span", { class: "spinner", "aria-hidden": "true" }), h("span", { class: "shot-placeholder-text" }));
    const number = h("span", { class: "shot-number", "aria-hidden": "true" });
    const frame = h("div", { class: "shot-frame" }, img, placeholder, number);
    const badge = h("span", { class: "badge" });
    const title = h("h3", { class: "shot-title", id: titleId });
    const subject = h("p", { class: "shot-subject" });
    const narration = h("p", { class: "shot-narration" });
    const chips = h("p", { class: "shot-chips" });
    const error = h("p", { class: "shot-error", hidden: true });
    const madeBy = h("dl", { class: "made-by" });
    const editButton = h("button", { type: "button", class: "button button-small button-secondary edit-button", "aria-haspopup": "dialog" });
    const body = h("div", { class: "shot-body" }, h("div", { class: "shot-head" }, title, badge), subject, narration, chips, error, madeBy, h("div", { class: "shot-actions" }, editButton));
    const root = h("li", { class: "shot", dataset: { shotId: id } }, h("article", { "aria-labelledby": titleId }, frame, body));
    const card = { id, root, img, placeholder, number, badge, title, subject, narration, chips, error, madeBy, editButton, body, shot: null, failure: "", imageFailed: false };
    editButton.addEventListener("click", () => this.openEditor(card));
    img.addEventListener("load", () => {
      root.classList.add("has-image");
      card.imageFailed = false;
      this.showImageError(card);
    });
    img.addEventListener("error", () => {
      card.imageFailed = Boolean(img.getAttribute("src"));
      this.showImageError(card);
    });
    return card;
  }

  updateCard(card, shot, progress, story, busy) {
    card.shot = shot;
    const n = shot.sequence;
    const state = progress.state || "none";
    card.root.dataset.state = state;
    card.number.textContent = String(n).padStart(2, "0");
    card.title.textContent = t("shot.label", { n });
    const step = state === "working" && progress.step ? ` · ${t(`step.${progress.step}`)}` : "";
    card.badge.textContent = t(`state.${state}`) + step;
    card.badge.className = `badge badge-${state}`;
    card.subject.textContent = shot.subject;
    card.narration.textContent = shot.narration;
    card.chips.replaceChildren(...[shot.camera, shot.tone].filter(Boolean).map((text) => h("span", { class: "chip" }, text)));

    const url = progress.image_url || shot.image_url;
    if (url && card.img.getAttribute("src") !== url) {
      card.imageFailed = false;
      card.img.src = url;
    }
    card.img.hidden = !url;
    card.img.alt = t("shot.imageAlt", { n, subject: shot.subject });
    card.placeholder.hidden = Boolean(url) && state !== "working" && state !== "waiting";
    card.placeholder.classList.toggle("over-image", Boolean(url));
    card.placeholder.lastChild.textContent = state === "none" ? t("shot.pending") : t(`state.${state}`) + step;

    const failure = state === "failed" && progress.error ? progress.error : null;
    card.failure = failure ? `${t("state.failed")}: ${failure.message}${failure.backend ? ` (${failure.backend})` : ""}` : "";
    this.showImageError(card);

    card.madeBy.replaceChildren(...madeByRows(shot.artifacts || {}));
    card.editButton.textContent = t("shot.editShort");
    card.editButton.setAttribute("aria-label", t("shot.edit", { n }));
    card.busy = busy;
  }

  /** A failed shot's reason, or else a keyframe that would not load (never a silently empty frame). */
  showImageError(card) {
    const text = card.failure || (card.imageFailed ? t("shot.imageError") : "");
    card.error.hidden = !text;
    card.error.textContent = text;
  }

  openEditor(card) {
    if (this.active) return;
    const url = card.img.hidden ? null : card.img.getAttribute("src");
    const editor = new ShotEditor(card.shot, url, {
      submit: (fields) => this.onRegenerate(card.shot, fields),
      upload: (file) => this.onUpload(file),
      onClose: () => {
        this.active = null;
        if (card.root.isConnected) card.editButton.focus();
      },
    });
    this.active = { card, editor };
    editor.setBusy(Boolean(card.busy));
    editor.open(this.aspect);
  }

  /** Re-render the open editor's labels after a language switch. */
  translate() {
    if (this.active) this.active.editor.translate();
  }

  clear() {
    if (this.active) this.active.editor.close();
    this.cards.clear();
    this.list.replaceChildren();
  }
}

function madeByRows(artifacts) {
  const rows = [];
  for (const kind of ARTIFACT_KINDS) {
    const info = artifacts[kind];
    if (!info) continue;
    rows.push(h("div", { class: "made-by-row", dataset: { kind } }, h("dt", {}, t(`artifact.${kind}`)), h("dd", {}, h("span", { class: "backend-name" }, backendName(info.backend)), info.model ? ` · ${info.model}` : "")));
  }
  return rows;
}

/** A keyframe made from the person's own picture says so; backends are named as the service names them. */
function backendName(backend) {
  return backend === "upload" ? t("artifact.fromUpload") : backend;
}

function skeletonCard() {
  return h("li", { class: "shot shot-skeleton", "aria-hidden": "true" }, h("div", { class: "shot-frame" }), h("div", { class: "shot-body" }, h("span", { class: "skeleton-line" }), h("span", { class: "skeleton-line short" })));
}
