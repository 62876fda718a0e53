// The story's cast: one card per character (portrait or initials, look, voice, shots) and Edit, which opens the cast editor.

import { CastEditor } from "./cast-editor.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { castHues, listOf, portrait, voiceHints } from "./people.js";

export class CastPanel {
  /**
   * onSave(character, changes) resolves to the edited Character (or throws an ApiError, shown in the editor);
   * onUpload(file) stores a picture and resolves to the Upload.
   */
  constructor(root, { onSave, onUpload }) {
    this.root = root;
    this.list = root.querySelector("#cast-list");
    this.status = root.querySelector("#cast-status");
    this.onSave = onSave;
    this.onUpload = onUpload;
    this.cards = new Map();
    this.active = null; // {card, editor} while the cast editor is open
    this.story = null;
    this.busy = false;
    this.statusMessage = null; // {key, params} of the last save, shown until another story opens
  }

  /** story: the Story resource (its cast and shots); busy: an operation of this story is running. */
  render(story, busy) {
    const cast = story && Array.isArray(story.cast) ? story.cast : [];
    this.story = story;
    this.busy = busy;
    this.root.hidden = cast.length === 0; // stories from before the cast have none: no section at all
    const wanted = new Set(cast.map((character) => character.character_id));
    for (const [id, card] of this.cards) {
      if (!wanted.has(id)) {
        card.root.remove();
        this.cards.delete(id);
      }
    }
    const sequences = new Map((story ? story.shots : []).map((shot) => [shot.id, shot.sequence]));
    const hues = castHues(story);
    cast.forEach((character, index) => {
      let card = this.cards.get(character.character_id);
      if (!card) {
        card = this.createCard(character.character_id);
        this.cards.set(character.character_id, card);
      }
      if (this.list.children[index] !== card.root) this.list.insertBefore(card.root, this.list.children[index] || null);
      this.updateCard(card, character, sequences, hues.get(character.character_id));
    });
    this.renderStatus();
    if (this.active) this.active.editor.setBusy(busy);
  }

  createCard(id) {
    const nameId = `cast-${id}-name`;
    const card = { id, character: null, portraitKey: "" };
    card.frame = h("div", { class: "cast-portrait" });
    card.source = h("p", { class: "cast-source" });
    card.name = h("h3", { class: "cast-name", id: nameId });
    card.appearance = h("p", { class: "cast-appearance" });
    card.hintsLabel = h("dt");
    card.hints = h("dd");
    card.voiceLabel = h("dt");
    card.voice = h("dd");
    card.shotsLabel = h("dt");
    card.shots = h("dd", { class: "cast-shots" });
    card.editButton = h("button", { type: "button", class: "button button-small button-secondary edit-button", "aria-haspopup": "dialog" });
    card.editButton.addEventListener("click", () => this.openEditor(card));
    card.root = h(
      "li",
      { class: "cast-card", dataset: { characterId: id } },
      h(
        "article",
        { "aria-labelledby": nameId },
        h("div", { class: "cast-side" }, card.frame, card.source),
        h(
          "div",
          { class: "cast-body" },
          card.name,
          card.appearance,
          h(
            "dl",
            { class: "cast-facts" },
            h("div", { class: "cast-fact cast-fact-hints" }, card.hintsLabel, card.hints),
            h("div", { class: "cast-fact cast-fact-voice" }, card.voiceLabel, card.voice),
            h("div", { class: "cast-fact cast-fact-shots" }, card.shotsLabel, card.shots),
          ),
          h("div", { class: "cast-actions" }, card.editButton),
        ),
      ),
    );
    return card;
  }

  updateCard(card, character, sequences, hue) {
    card.character = character;
    card.hue = hue;
    const key = `${character.name}|${hue}`;
    if (card.portraitKey !== key) {
      // The initials follow the name: a new frame; its picture is set below.
      card.portraitKey = key;
      card.picture = portrait(character, hue, "portrait-card", (state) => {
        card.pictureFailed = state === "failed";
        this.updateSource(card);
      });
      card.pictureUrl = undefined;
      card.frame.replaceChildren(card.picture.root);
    }
    if (card.pictureUrl !== character.reference_url) card.pictureFailed = false;
    card.pictureUrl = character.reference_url;
    card.picture.show(character.reference_url);
    card.picture.img.alt = t("cast.portraitAlt", { name: character.name });
    card.name.textContent = character.name;
    card.appearance.textContent = character.appearance;
    card.hintsLabel.textContent = t("cast.hints");
    card.hints.textContent = voiceHints(character) || t("cast.hints.none");
    card.voiceLabel.textContent = t("cast.voice");
    card.voice.textContent = character.voice || t("cast.voice.auto");
    card.voice.classList.toggle("is-auto", !character.voice);
    card.shotsLabel.textContent = t("cast.shots");
    const numbers = character.shot_ids.map((id) => sequences.get(id)).filter((n) => n !== undefined).sort((a, b) => a - b);
    card.shots.textContent = numbers.length ? listOf(numbers) : t("cast.shots.none");
    card.editButton.textContent = t("shot.editShort");
    card.editButton.setAttribute("aria-label", t("cast.edit", { name: character.name }));
    this.updateSource(card);
  }

  /** Under the portrait: where it came from, or when it will exist. */
  updateSource(card) {
    const character = card.character;
    let key = "cast.source.pending";
    if (character.reference_url) key = card.pictureFailed ? "cast.source.broken" : `cast.source.${character.reference_source || "drawn"}`;
    card.source.textContent = t(key);
    card.source.dataset.source = key.split(".").pop();
  }

  openEditor(card) {
    if (this.active) return;
    const character = card.character;
    const editor = new CastEditor(character, card.hue, {
      save: async (changes) => {
        const saved = await this.onSave(character, changes);
        this.showSaved(saved, changes);
        return saved;
      },
      upload: (file) => this.onUpload(file),
      onClose: () => {
        this.active = null;
        if (card.root.isConnected) card.editButton.focus();
      },
    });
    this.active = { card, editor };
    editor.setBusy(this.busy);
    editor.open();
  }

  /** What the save changes for the next render, said once the story is reloaded. */
  showSaved(character, changes) {
    const looks = "name" in changes || "appearance" in changes || "reference_upload_id" in changes || changes.redraw_reference;
    const voice = ["voice", "gender", "age", "timbre"].some((name) => name in changes);
    this.statusMessage = { characterId: character.character_id, name: character.name, looks: Boolean(looks), voice };
    this.renderStatus();
  }

  /** An operation started: what the last save meant for "the next render" is now being done. */
  clearStatus() {
    this.statusMessage = null;
    this.renderStatus();
  }

  renderStatus() {
    const message = this.statusMessage;
    if (!message) {
      this.status.textContent = "";
      return;
    }
    const parts = [t("cast.saved", { name: message.name })];
    if (message.looks) {
      const redrawn = this.redrawnShots(message.characterId);
      const key = redrawn.length === 0 ? "cast.saved.noRedraw" : redrawn.length === 1 ? "cast.saved.redraw.one" : "cast.saved.redraw";
      parts.push(t(key, { shots: listOf(redrawn) }));
    }
    if (message.voice) parts.push(t("cast.saved.voice"));
    const text = parts.join(t("sentence.separator"));
    if (this.status.textContent !== text) this.status.textContent = text;
  }

  /** Sequence numbers of the character's shots that have no keyframe now (they are drawn at the next render). */
  redrawnShots(characterId) {
    const story = this.story;
    const character = story && (story.cast || []).find((member) => member.character_id === characterId);
    if (!character) return [];
    return story.shots
      .filter((shot) => character.shot_ids.includes(shot.id) && !shot.image_url)
      .map((shot) => shot.sequence)
      .sort((a, b) => a - b);
  }

  /** Re-render the open editor's labels after a language switch (the cards follow with the next render). */
  translate() {
    if (this.active) this.active.editor.translate();
  }

  clear() {
    if (this.active) this.active.editor.close();
    this.cards.clear();
    this.list.replaceChildren();
    this.statusMessage = null;
    this.status.textContent = "";
    this.story = null;
    this.root.hidden = true;
  }
}
