// The person's own files: a picture for a shot's keyframe (in the shot editor) and a music file for the render.

import { ApiError } from "./api.js";
import { t } from "./i18n.js";
import { Notices } from "./notices.js";

export const PICTURE_TYPES = "image/png,image/jpeg,image/webp";

/** The Upload if it is of `kind` ("image" | "audio"); else the ApiError the page shows for a file of the wrong kind. */
export function checkUploadKind(upload, kind) {
  if (upload.kind === kind) return upload;
  throw new ApiError({ code: "unsupported_media_type", message: t(`upload.wrongKind.${kind}`), param: "file" });
}

/**
 * "Music file" in the video options. The file is uploaded as soon as it is chosen (so a refused file is
 * named at once); Render then asks uploadId(), which waits for that upload, reuses it, or tries again.
 */
export class MusicPicker {
  /** elements: {input, chosen, name, clear, status, notices, toggle}; upload(userId, file) resolves to the Upload. */
  constructor({ input, chosen, name, clear, status, notices, toggle }, { upload }) {
    this.input = input;
    this.chosen = chosen;
    this.name = name;
    this.clearButton = clear;
    this.status = status;
    this.toggle = toggle;
    this.notices = new Notices(notices);
    this.uploadAction = upload;
    this.userId = "";
    this.file = null;
    this.attempt = null; // {file, userId, promise, upload, error} of the latest upload
    input.addEventListener("change", () => this.choose(input.files[0] || null));
    clear.addEventListener("click", () => {
      this.choose(null);
      this.input.focus();
    });
  }

  setUser(userId) {
    this.userId = userId;
  }

  choose(file) {
    this.file = file;
    this.attempt = null;
    this.notices.clearAll();
    this.input.removeAttribute("aria-invalid");
    if (!file) this.input.value = "";
    else {
      this.toggle.checked = true; // a music file is used as the background music, so the music is on
      this.start();
    }
    this.render();
  }

  /** Begin uploading the chosen file for the current user; failures are shown next to the input. */
  start() {
    const attempt = { file: this.file, userId: this.userId, upload: null, error: null };
    this.attempt = attempt;
    this.notices.clearAll();
    this.input.removeAttribute("aria-invalid");
    attempt.promise = this.uploadAction(attempt.userId, attempt.file)
      .then((upload) => {
        attempt.upload = checkUploadKind(upload, "audio");
        return attempt.upload;
      })
      .catch((error) => {
        attempt.error = error;
        if (this.attempt === attempt) this.showError(error);
        throw error;
      })
      .finally(() => {
        if (this.attempt === attempt) this.render();
      });
    attempt.promise.catch(() => {}); // the error is shown here; callers that wait on it see it too
    this.render();
    return attempt.promise;
  }

  /** The upload id Render should send: null without a file (or with the music off); throws if the file is unusable. */
  async uploadId() {
    if (!this.file || !this.toggle.checked) return null;
    let attempt = this.attempt;
    const stale = !attempt || attempt.userId !== this.userId;
    // A refused file (4xx) is refused again, so show that again; a lost connection or a server fault is retried.
    const retry = attempt && attempt.error && (!attempt.error.status || attempt.error.status >= 500);
    if (stale || retry) {
      this.start();
      attempt = this.attempt;
    } else if (attempt.error) {
      this.showError(attempt.error);
    }
    const upload = await attempt.promise;
    return upload.upload_id;
  }

  showError(error) {
    this.input.setAttribute("aria-invalid", "true");
    this.notices.showError("upload", error);
  }

  /** The chosen file's name with Remove, and what its upload is doing. */
  render() {
    const attempt = this.attempt;
    this.chosen.hidden = !this.file;
    this.name.textContent = this.file ? this.file.name : "";
    this.clearButton.textContent = t("music.clear");
    this.clearButton.setAttribute("aria-label", t("music.clearLabel", { name: this.file ? this.file.name : "" }));
    let key = "";
    if (attempt && attempt.upload) key = "music.ready";
    else if (attempt && !attempt.error) key = "music.uploading";
    else if (attempt && attempt.error) key = "music.failed";
    const text = key ? t(key) : "";
    if (this.status.textContent !== text) this.status.textContent = text;
    this.chosen.dataset.state = key ? key.split(".")[1] : "";
  }

  focus() {
    this.input.focus();
  }
}
