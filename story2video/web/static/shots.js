// The keyframe grid: one card per shot with its state, keyframe, words and backends; Edit opens the shot editor.

import { h } from "./dom.js";
import { ShotEditor } from "./editor.js";
import { t } from "./i18n.js";
import { castById, castHues } from "./people.js";

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
    const castList = h("ul", { class: "shot-cast", hidden: true });
    const narration = h("p", { class: "shot-narration" });
    const lines = h("ul", { class: "shot-lines", hidden: true });
    const chips = h("p", { class: "shot-chips" });
    const consistency = h("p", { class: "shot-consistency", hidden: true });
    const error = h("p", { class: "shot-error", hidden: true });
    const madeBy = h("dl", { class: "made-by" });
    const editButton = h("button", { type: "button", class: "button button-small button-secondary edit-button", "aria-haspopup": "dialog" });
    const body = h("div", { class: "shot-body" }, h("div", { class: "shot-head" }, title, badge), subject, castList, narration, lines, chips, consistency, error, madeBy, h("div", { class: "shot-actions" }, editButton));
    const root = h("li", { class: "shot", dataset: { shotId: id } }, h("article", { "aria-labelledby": titleId }, frame, body));
    const card = { id, root, img, placeholder, number, badge, title, subject, castList, narration, lines, chips, consistency, error, madeBy, editButton, body, shot: null, failure: "", imageFailed: false };
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
    const cast = castById(story);
    const hues = castHues(story);
    showCast(card, shot, cast, hues);
    showLines(card, shot, cast, hues);
    showConsistency(card, shot);
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
    // No keyframe and nothing drawing it: a cast edit forgot it (or it never got one); the next render draws it.
    const pendingText = (shot.characters || []).length ? t("shot.redrawNext") : t("shot.pending");
    card.placeholder.lastChild.textContent = state === "none" ? pendingText : t(`state.${state}`) + step;

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

/** The names of the characters the shot shows, each in its colour. */
function showCast(card, shot, cast, hues) {
  const ids = shot.characters || [];
  card.castList.hidden = ids.length === 0;
  card.castList.setAttribute("aria-label", t("shot.cast", { n: shot.sequence }));
  card.castList.replaceChildren(
    ...ids.map((id) => {
      const chip = h("li", { class: "cast-chip", dataset: { characterId: id } }, h("span", { class: "cast-dot", "aria-hidden": "true" }), cast.has(id) ? cast.get(id).name : id);
      if (hues.has(id)) chip.style.setProperty("--hue", String(hues.get(id)));
      return chip;
    }),
  );
}

/** With dialogue, the narration line by line: each spoken line after its speaker's name, the narrator's plain. */
function showLines(card, shot, cast, hues) {
  const lines = shot.lines || [];
  const spoken = lines.some((line) => line.speaker !== "narrator");
  card.narration.hidden = spoken;
  card.lines.hidden = !spoken;
  card.lines.setAttribute("aria-label", t("shot.lines", { n: shot.sequence }));
  if (!spoken) {
    card.lines.replaceChildren();
    return;
  }
  card.lines.replaceChildren(
    ...lines.map((line) => {
      if (line.speaker === "narrator") return h("li", { class: "line line-narrator" }, line.text);
      const name = cast.has(line.speaker) ? cast.get(line.speaker).name : line.speaker;
      const item = h("li", { class: "line line-spoken", dataset: { speaker: line.speaker } }, h("span", { class: "line-speaker" }, t("shot.lineSpeaker", { name })), " ", h("span", { class: "line-text" }, line.text));
      if (hues.has(line.speaker)) item.style.setProperty("--hue", String(hues.get(line.speaker)));
      return item;
    }),
  );
}

/** The drift check's score and takes; a shot that stayed below the threshold says so plainly. */
function showConsistency(card, shot) {
  const scored = typeof shot.consistency === "number";
  card.consistency.hidden = !scored;
  if (!scored) {
    card.consistency.replaceChildren();
    return;
  }
  const takes = shot.takes === 1 ? t("shot.takes.one") : t("shot.takes", { n: shot.takes });
  const flagged = Boolean(shot.consistency_flagged);
  card.consistency.dataset.flagged = String(flagged);
  card.consistency.title = t("shot.consistency.title");
  const score = h("span", { class: "consistency-score" }, t("shot.consistency", { score: shot.consistency.toFixed(2) }), h("span", { class: "consistency-takes" }, ` · ${takes}`));
  const flag = h("span", { class: "consistency-flag" }, h("span", { "aria-hidden": "true" }, "⚠ "), t("shot.consistency.flagged"));
  card.consistency.replaceChildren(...(flagged ? [score, flag] : [score]));
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
