// The cast editor: a modal <dialog> for one character (name, look, voice hints, voice, reference picture).
// Save sends only what changed, in one PATCH; the service's errors are shown at the field they name.

import { h } from "./dom.js";
import { t } from "./i18n.js";
import { Notices, clearFieldError, clearFieldErrors, fieldMessage, setFieldError } from "./notices.js";
import { portrait } from "./people.js";
import { PICTURE_TYPES, checkUploadKind } from "./uploads.js";

const TEXT_FIELDS = ["name", "appearance", "timbre", "voice"];
const CHOICES = { gender: ["", "female", "male"], age: ["", "child", "young", "adult", "old"] };
const REQUIRED = new Set(["name", "appearance"]);
const FIELD_ORDER = ["name", "appearance", "gender", "age", "timbre", "voice"];
const APPEARANCE_MAX = 600; // the service's limit (UpdateCharacterRequest.appearance); it still checks, this only counts

function capitalized(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export class CastEditor {
  /** save(changes) resolves to the saved Character or throws an ApiError; upload(file) resolves to the Upload. */
  constructor(character, hue, { save, upload, onClose }) {
    this.character = character;
    this.saveAction = save;
    this.uploadAction = upload;
    this.sending = false;
    this.uploading = false;
    this.busy = false;
    this.upload = null; // the Upload of the chosen reference picture, once stored
    this.previewUrl = null;
    this.inputs = {};
    this.labels = {};
    this.hints = {};
    const base = `cast-edit-${character.character_id}`;

    const field = (name, control, { hint = false, counter = false } = {}) => {
      const id = `${base}-${name}`;
      control.id = id;
      control.name = name;
      this.inputs[name] = control;
      this.labels[name] = h("label", { for: id });
      if (hint) {
        this.hints[name] = h("p", { class: "hint", id: `${id}-hint` });
        control.setAttribute("aria-describedby", `${id}-hint`);
      }
      control.addEventListener("input", () => clearFieldError(control));
      const label = counter ? h("div", { class: "label-row" }, this.labels[name], this.counter) : this.labels[name];
      return h("div", { class: `field field-${name}` }, label, control, this.hints[name] || null);
    };
    this.counter = h("span", { class: "counter", "aria-live": "off" });
    const nameField = field("name", h("input", { autocomplete: "off", value: character.name }));
    const appearanceField = field("appearance", h("textarea", { rows: 4 }), { hint: true, counter: true });
    this.inputs.appearance.value = character.appearance;
    this.inputs.appearance.addEventListener("input", () => this.updateCounter());
    const selects = Object.keys(CHOICES).map((name) => {
      const select = h("select", {});
      select.append(...CHOICES[name].map((value) => h("option", { value })));
      select.value = character[name] || "";
      return field(name, select);
    });
    const timbreField = field("timbre", h("input", { autocomplete: "off", value: character.timbre }), { hint: true });
    const voiceField = field("voice", h("input", { autocomplete: "off", spellcheck: "false", value: character.voice }), { hint: true });

    // The reference picture: an upload of the person's own (stored when chosen, used on Save) or a new drawn portrait.
    const pictureId = `${base}-picture`;
    this.picture = portrait(character, hue, "portrait-editor");
    this.picture.show(character.reference_url);
    this.source = h("p", { class: "cast-source" });
    this.pictureLabel = h("label", { for: pictureId });
    this.pictureHint = h("p", { class: "hint", id: `${pictureId}-hint` });
    this.pictureStatus = h("p", { class: "upload-status", id: `${pictureId}-status`, role: "status" });
    this.pictureInput = h("input", { type: "file", id: pictureId, name: "reference_picture", accept: PICTURE_TYPES, "aria-describedby": `${pictureId}-hint ${pictureId}-status ${pictureId}-notices` });
    this.pictureNotices = new Notices(h("div", { class: "notices upload-notices", id: `${pictureId}-notices` }));
    this.pictureInput.addEventListener("change", () => this.choosePicture(this.pictureInput.files[0] || null));
    const redrawId = `${base}-redraw`;
    this.redrawInput = h("input", { type: "checkbox", id: redrawId, name: "redraw_reference", "aria-describedby": `${redrawId}-hint` });
    this.redrawLabel = h("span");
    this.redrawHint = h("p", { class: "hint", id: `${redrawId}-hint` });
    this.redrawInput.addEventListener("change", () => {
      clearFieldError(this.redrawInput);
      if (this.redrawInput.checked) this.choosePicture(null);
    });
    // Without a portrait yet there is nothing to draw again: one is drawn from the look at the next render.
    const redrawField = h(
      "div",
      { class: "field field-redraw", hidden: !character.reference_url },
      h("label", { class: "toggle", for: redrawId }, this.redrawInput, h("span", { class: "switch", "aria-hidden": "true" }), this.redrawLabel),
      this.redrawHint,
    );

    const titleId = `${base}-title`;
    this.title = h("h2", { id: titleId });
    this.closeButton = h("button", { type: "button", class: "icon-button", onclick: () => this.close() }, "×");
    this.hint = h("p", { class: "hint" });
    this.busyNote = h("p", { class: "callout cast-busy", hidden: true });
    this.notices = new Notices(h("div", { class: "notices" }));
    this.submitButton = h("button", { type: "submit", class: "button button-primary" });
    this.cancelButton = h("button", { type: "button", class: "button button-secondary", onclick: () => this.close() });
    this.form = h(
      "form",
      { class: "editor-form", novalidate: true },
      h("div", { class: "editor-fields cast-fields" }, nameField, appearanceField, selects, timbreField, voiceField),
      this.hint,
      this.busyNote,
      this.notices.container,
      h("div", { class: "editor-actions" }, this.submitButton, this.cancelButton),
    );
    this.dialog = h(
      "dialog",
      { class: "shot-dialog cast-dialog", "aria-labelledby": titleId, dataset: { characterId: character.character_id } },
      h("div", { class: "editor-head" }, this.title, this.closeButton),
      h(
        "div",
        { class: "editor-body" },
        h(
          "div",
          { class: "editor-side cast-editor-side" },
          h("div", { class: "cast-editor-portrait" }, this.picture.root, this.source),
          h("div", { class: "field field-upload field-picture" }, this.pictureLabel, this.pictureInput, this.pictureHint, this.pictureStatus, this.pictureNotices.container),
          redrawField,
        ),
        this.form,
      ),
    );
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    this.dialog.addEventListener("close", () => {
      this.dialog.remove();
      if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
      onClose();
    });
    this.translate();
  }

  open() {
    document.body.append(this.dialog);
    this.dialog.showModal();
    this.inputs.name.focus();
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  translate() {
    const name = this.character.name;
    this.title.textContent = t("cast.edit", { name });
    for (const field of FIELD_ORDER) this.labels[field].textContent = t(`cast.field.${field}`);
    for (const [field, hint] of Object.entries(this.hints)) hint.textContent = t(`cast.field.${field}.hint`);
    for (const field of Object.keys(CHOICES)) {
      for (const option of this.inputs[field].options) option.textContent = option.value ? capitalized(t(`cast.${field}.${option.value}`)) : t("cast.notSet");
    }
    const { reference_url: url, reference_source: source } = this.character;
    this.source.textContent = t(url ? `cast.source.${source || "drawn"}` : "cast.source.pending");
    this.updateCounter();
    this.inputs.voice.placeholder = t("cast.voice.auto");
    this.closeButton.setAttribute("aria-label", t("shot.cancelEdit"));
    this.picture.img.alt = t("cast.portraitAlt", { name });
    this.pictureLabel.textContent = t("cast.picture");
    this.pictureHint.textContent = t("cast.picture.hint");
    if (this.pictureStatus.dataset.key) this.pictureStatus.textContent = t(this.pictureStatus.dataset.key, { name: this.pictureStatus.dataset.name });
    this.redrawLabel.textContent = t("cast.redraw");
    this.redrawHint.textContent = t("cast.redraw.hint");
    this.hint.textContent = t("cast.save.hint");
    this.busyNote.textContent = t("cast.busy");
    this.submitButton.textContent = this.sending ? t("cast.saving") : t("cast.save");
    this.cancelButton.textContent = t("shot.cancelEdit");
  }

  updateCounter() {
    const n = Array.from(this.inputs.appearance.value.trim()).length;
    this.counter.textContent = t("cast.field.appearance.count", { n, max: APPEARANCE_MAX });
    this.counter.classList.toggle("is-over", n > APPEARANCE_MAX);
  }

  /** While an operation of this story runs, saving waits: the running render would mix old and new looks. */
  setBusy(busy) {
    this.busy = busy;
    this.updateButtons();
  }

  updateButtons() {
    this.submitButton.disabled = this.busy || this.sending || this.uploading;
    this.submitButton.setAttribute("aria-busy", String(this.sending));
    this.submitButton.textContent = this.sending ? t("cast.saving") : t("cast.save");
    this.busyNote.hidden = !this.busy;
    this.pictureInput.disabled = this.sending;
    this.redrawInput.disabled = this.sending;
  }

  /** What the form changes, or null (with the field marked) when a required field is empty. */
  readChanges() {
    clearFieldErrors(this.dialog);
    const changes = {};
    for (const name of FIELD_ORDER) {
      const input = this.inputs[name];
      const value = TEXT_FIELDS.includes(name) ? input.value.trim() : input.value;
      if (REQUIRED.has(name) && !value) {
        setFieldError(input, t("validate.empty"));
        input.focus();
        return null;
      }
      if (value !== (this.character[name] || "")) changes[name] = value;
    }
    if (this.upload) changes.reference_upload_id = this.upload.upload_id;
    else if (this.redrawInput.checked) changes.redraw_reference = true;
    return changes;
  }

  async save() {
    if (this.sending || this.uploading || this.busy) return;
    this.notices.clearAll();
    const changes = this.readChanges();
    if (!changes) return;
    if (!Object.keys(changes).length) {
      this.close(); // nothing changed: nothing to send, nothing redrawn
      return;
    }
    this.sending = true;
    this.updateButtons();
    try {
      await this.saveAction(changes);
      this.sending = false;
      this.close();
    } catch (error) {
      this.sending = false;
      this.showError(error);
    } finally {
      this.updateButtons();
    }
  }

  /** Store the chosen picture at once (a refused file is named before Save); null forgets the choice. */
  async choosePicture(file) {
    this.upload = null;
    this.pictureInput.removeAttribute("aria-invalid");
    this.pictureNotices.clearAll();
    clearFieldError(this.pictureInput);
    if (!file) {
      this.pictureInput.value = "";
      this.setPictureStatus(null);
      this.showPicture();
      return;
    }
    this.redrawInput.checked = false;
    this.uploading = true;
    this.updateButtons();
    this.setPictureStatus("cast.picture.uploading", file.name);
    const attempt = file;
    this.pending = attempt;
    try {
      const upload = checkUploadKind(await this.uploadAction(file), "image");
      if (this.pending !== attempt) return; // another file was chosen meanwhile
      this.upload = upload;
      this.setPictureStatus("cast.picture.uploaded", file.name);
      this.showPicture(file);
    } catch (error) {
      if (this.pending !== attempt) return;
      this.setPictureStatus(null);
      this.pictureInput.value = "";
      this.pictureInput.setAttribute("aria-invalid", "true");
      this.pictureNotices.showError("upload", error);
      this.pictureInput.focus();
    } finally {
      if (this.pending === attempt) {
        this.uploading = false;
        this.updateButtons();
      }
    }
  }

  /** The portrait at the side: the chosen picture, else the current portrait (or the initials). */
  showPicture(file = null) {
    const previous = this.previewUrl;
    this.previewUrl = file ? URL.createObjectURL(file) : null;
    this.picture.show(this.previewUrl || this.character.reference_url);
    if (previous) URL.revokeObjectURL(previous);
  }

  setPictureStatus(key, name = "") {
    if (key) {
      this.pictureStatus.dataset.key = key;
      this.pictureStatus.dataset.name = name;
      this.pictureStatus.textContent = t(key, { name });
    } else {
      delete this.pictureStatus.dataset.key;
      this.pictureStatus.textContent = "";
    }
  }

  /** The service's answer next to the field it names, and in the dialog's notices. */
  showError(error) {
    let input = error.param && this.inputs[error.param];
    if (error.param === "reference_upload_id") input = this.pictureInput;
    if (error.param === "redraw_reference") input = this.redrawInput;
    if (input) {
      setFieldError(input, fieldMessage(error));
      input.focus();
    }
    this.notices.showError("save", error, { retry: !error.status || error.status >= 500 ? () => this.save() : null });
  }
}
