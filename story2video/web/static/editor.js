// The shot editor: a modal <dialog> (focus stays inside, Escape closes) with the keyframe beside its words.

import { h } from "./dom.js";
import { t } from "./i18n.js";
import { Notices, clearFieldErrors, fieldMessage, setFieldError } from "./notices.js";
import { PICTURE_TYPES, checkUploadKind } from "./uploads.js";

export const EDITABLE_FIELDS = ["subject", "detail", "narration", "camera", "tone"];
const MULTILINE = new Set(["detail", "narration"]);

export class ShotEditor {
  /**
   * submit(fields) resolves once the operation started, or throws an ApiError; upload(file) resolves to the
   * Upload or throws an ApiError; onClose runs after the dialog closed.
   */
  constructor(shot, imageUrl, { submit, upload, onClose }) {
    this.shot = shot;
    this.submitAction = submit;
    this.uploadAction = upload;
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
    // "Use my picture": the chosen file is uploaded, then the shot is regenerated with it as the keyframe.
    const pictureId = `edit-${shot.id}-picture`;
    this.pictureLabel = h("label", { for: pictureId });
    this.pictureHint = h("p", { class: "hint", id: `${pictureId}-hint` });
    this.pictureStatus = h("p", { class: "upload-status", id: `${pictureId}-status`, role: "status" });
    this.pictureInput = h("input", { type: "file", id: pictureId, name: "picture", accept: PICTURE_TYPES, "aria-describedby": `${pictureId}-hint ${pictureId}-status ${pictureId}-notices` });
    this.pictureNotices = new Notices(h("div", { class: "notices upload-notices", id: `${pictureId}-notices` }));
    this.pictureInput.addEventListener("change", () => this.usePicture());
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
      h(
        "div",
        { class: "editor-body" },
        h(
          "div",
          { class: "editor-side" },
          h("div", { class: "editor-preview" }, this.preview),
          h("div", { class: "field field-upload field-picture" }, this.pictureLabel, this.pictureInput, this.pictureHint, this.pictureStatus, this.pictureNotices.container),
        ),
        this.form,
      ),
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
    this.pictureLabel.textContent = t("shot.picture");
    this.pictureHint.textContent = t("shot.picture.hint");
    if (this.pictureStatus.dataset.key) this.pictureStatus.textContent = t(this.pictureStatus.dataset.key, { name: this.pictureStatus.dataset.name });
    this.submitButton.textContent = t("shot.regenerate");
    this.cancelButton.textContent = t("shot.cancelEdit");
  }

  /** While an operation of this story runs, the shot cannot be regenerated (it would only wait in line). */
  setBusy(busy) {
    this.busy = busy;
    this.updateButtons();
  }

  updateButtons() {
    this.submitButton.disabled = this.busy || this.sending;
    this.pictureInput.disabled = this.busy || this.sending;
  }

  /** The words in the form, or null (with the first empty field marked) if one is empty. */
  readFields() {
    clearFieldErrors(this.form);
    const fields = {};
    for (const name of EDITABLE_FIELDS) fields[name] = this.inputs[name].value.trim();
    const empty = EDITABLE_FIELDS.find((name) => !fields[name]);
    if (empty) {
      setFieldError(this.inputs[empty], t("validate.empty"));
      this.inputs[empty].focus();
      return null;
    }
    return fields;
  }

  /** Regenerate with the words of the form; extra: more of the request (the uploaded picture). */
  async submit(extra = {}) {
    this.notices.clearAll();
    const fields = this.readFields();
    if (!fields) return;
    this.sending = true;
    this.updateButtons();
    try {
      await this.submitAction({ ...fields, ...extra });
      this.close();
    } catch (error) {
      this.showError(error, () => this.submit(extra));
    } finally {
      this.sending = false;
      this.updateButtons();
    }
  }

  /** Upload the chosen picture, then regenerate the shot with it (and the words of the form) as its keyframe. */
  async usePicture() {
    const file = this.pictureInput.files[0];
    if (!file || this.sending || this.busy) return;
    this.notices.clearAll();
    this.clearPictureError();
    if (!this.readFields()) {
      this.pictureInput.value = "";
      return;
    }
    this.sending = true;
    this.updateButtons();
    this.setPictureStatus("shot.picture.uploading", file.name);
    let upload;
    try {
      upload = checkUploadKind(await this.uploadAction(file), "image");
    } catch (error) {
      this.sending = false;
      this.updateButtons();
      this.setPictureStatus(null);
      this.showPictureError(error, file);
      return;
    }
    this.sending = false;
    this.setPictureStatus("shot.picture.uploaded", file.name);
    await this.submit({ image_upload_id: upload.upload_id });
    if (this.dialog.open) this.pictureInput.value = ""; // it did not start: choosing the same file again tries again
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

  showPictureError(error, file) {
    this.pictureInput.value = "";
    this.pictureInput.setAttribute("aria-invalid", "true");
    // A network hiccup or a server fault may pass; a refused file (4xx) would only be refused again.
    const retry = !error.status || error.status >= 500 ? () => this.retryPicture(file) : null;
    this.pictureNotices.showError("upload", error, { retry });
    this.pictureInput.focus();
  }

  async retryPicture(file) {
    const transfer = new DataTransfer();
    transfer.items.add(file);
    this.pictureInput.files = transfer.files;
    await this.usePicture();
  }

  clearPictureError() {
    this.pictureInput.removeAttribute("aria-invalid");
    this.pictureNotices.clearAll();
  }

  showError(error, retry) {
    const input = error.param === "image_upload_id" ? this.pictureInput : error.param && this.inputs[error.param];
    if (input) {
      setFieldError(input, fieldMessage(error));
      input.focus();
    }
    this.notices.showError("regenerate", error, { retry });
  }
}
