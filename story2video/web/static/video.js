// The video panel: Render, the player, MP4 and SRT downloads, and a note when shots changed after the render.

import { $ } from "./dom.js";
import { has, t } from "./i18n.js";
import { formatSeconds } from "./progress.js";

export class VideoPanel {
  /** onError(title, line) shows why the player cannot play (the downloads stay usable). */
  constructor(root, { onRender, onError, onDownloadAll }) {
    this.root = root;
    this.renderButton = $("#render-button", root);
    this.downloadAll = $("#download-all", root);
    this.downloadAll.addEventListener("click", onDownloadAll);
    this.body = $("#video-body", root);
    this.player = $("#player", root);
    this.mp4 = $("#download-mp4", root);
    this.srt = $("#download-srt", root);
    this.duration = $("#video-duration", root);
    this.outdated = $("#video-outdated", root);
    this.knownDuration = null;
    this.renderButton.addEventListener("click", onRender);
    this.player.addEventListener("error", () => {
      const code = this.player.error ? this.player.error.code : 0;
      if (!this.player.getAttribute("src")) return;
      const reason = has(`video.error.${code}`) ? t(`video.error.${code}`) : `code ${code}`;
      onError(t("video.error.title"), t("video.error", { reason }));
    });
    this.player.addEventListener("loadedmetadata", () => {
      if (!Number.isFinite(this.knownDuration)) this.showDuration(this.player.duration);
    });
  }

  /** story: the Story resource; busy: an operation of this story is running; duration: from the last render, if known. */
  render(story, busy, duration = null) {
    const hasShots = story && story.shots.length > 0;
    this.renderButton.disabled = busy || !hasShots;
    this.downloadAll.hidden = !hasShots;
    this.renderButton.textContent = story && story.video_url ? t("video.rerender") : t("video.render");
    const url = story ? story.video_url : null;
    this.body.hidden = !url;
    // After a shot is regenerated its clip is dropped, so a missing shot clip means the video is older than the shots.
    this.outdated.hidden = !(url && story.shots.some((shot) => !shot.video_url));
    if (!url) {
      if (this.player.getAttribute("src")) {
        this.player.removeAttribute("src");
        this.player.load();
      }
      return;
    }
    if (this.player.getAttribute("src") !== url) {
      this.player.src = url;
      this.knownDuration = duration;
    }
    const name = fileName(story);
    this.player.setAttribute("aria-label", t("video.label", { name: story.display_name }));
    this.mp4.href = url;
    this.mp4.download = `${name}.mp4`;
    this.srt.hidden = !story.subtitles_url;
    if (story.subtitles_url) {
      this.srt.href = story.subtitles_url;
      this.srt.download = `${name}.srt`;
    }
    this.showDuration(Number.isFinite(this.knownDuration) ? this.knownDuration : this.player.duration);
  }

  showDuration(seconds) {
    this.duration.textContent = Number.isFinite(seconds) && seconds > 0 ? t("video.duration", { s: formatSeconds(seconds) }) : "";
  }
}

function fileName(story) {
  const cleaned = (story.display_name || story.story_id).replace(/[\\/:*?"<>|\s]+/g, "_").slice(0, 60);
  return cleaned || story.story_id;
}
