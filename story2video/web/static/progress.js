// The operation panel: what is running, which stage, a progress bar, shots done, and Cancel.

import { $ } from "./dom.js";
import { t } from "./i18n.js";
import { TERMINAL } from "./follow.js";

export class ProgressPanel {
  constructor(root, { onCancel }) {
    this.root = root;
    this.title = $("#progress-title", root);
    this.bar = $("#progress-bar", root);
    this.fill = $("#progress-fill", root);
    this.text = $("#progress-text", root);
    this.percent = $("#progress-percent", root);
    this.cancelButton = $("#cancel-button", root);
    this.cancelling = false;
    this.shotHints = new Map(); // operation id -> shot id, for "Redrawing shot N" before the first event
    this.cancelButton.addEventListener("click", async () => {
      this.cancelling = true;
      this.cancelButton.disabled = true;
      this.cancelButton.textContent = t("op.cancelling");
      try {
        await onCancel();
      } finally {
        this.cancelling = false;
      }
    });
  }

  hintShot(operationId, shotId) {
    this.shotHints.set(operationId, shotId);
  }

  /** op: the operation to show, or null to hide the panel; story: for shot numbers in titles. */
  render(op, story) {
    this.root.hidden = !op;
    if (!op) return;
    const finished = TERMINAL.has(op.status);
    const pct = Math.round((op.status === "Success" ? 1 : op.progress || 0) * 100);
    this.root.dataset.status = op.status;
    this.title.textContent = t(`op.${op.kind}`, { n: this.shotNumber(op, story) });
    this.fill.style.width = `${pct}%`;
    this.bar.setAttribute("aria-valuenow", String(pct));
    this.bar.setAttribute("aria-valuetext", `${pct}%`);
    this.percent.textContent = op.status === "Failed" || op.status === "Cancelled" ? "" : `${pct}%`;
    const text = finished ? this.finishedText(op, story) : this.runningText(op);
    // Only write when the words change, so screen readers announce stages, not every percent.
    if (this.text.textContent !== text) this.text.textContent = text;
    this.cancelButton.hidden = finished;
    if (!this.cancelling) {
      this.cancelButton.disabled = false;
      this.cancelButton.textContent = t("op.cancel");
    }
  }

  runningText(op) {
    if (op.status === "Queued") return t("status.Queued");
    const stage = op.stage ? t(`stage.${op.stage}`) : t("status.Running");
    const shots = Object.values(op.shots || {});
    const counting = shots.length > 1 && (op.stage === "keyframes" || op.stage === "shots");
    const done = shots.filter((shot) => shot.state === "done").length;
    return counting ? `${stage} · ${t("op.shotsDone", { done, total: shots.length })}` : stage;
  }

  finishedText(op, story) {
    if (op.status === "Cancelled") return t("op.cancelled");
    if (op.status === "Failed") return `${t("state.failed")}: ${op.error ? op.error.message : ""}`;
    const result = op.result || {};
    if (op.kind === "storyboard.create") return t("op.done.storyboard.create", { n: (result.shots || []).length });
    if (op.kind === "shot.regenerate") return t("op.done.shot.regenerate", { n: this.shotNumber(op, story) });
    return t("op.done.video.render", { s: formatSeconds(result.duration) });
  }

  shotNumber(op, story) {
    if (op.kind !== "shot.regenerate") return "";
    const id = this.shotHints.get(op.operation_id) || Object.keys(op.shots || {})[0];
    const shot = story && story.shots.find((s) => s.id === id);
    return shot ? shot.sequence : id || "";
  }
}

export function formatSeconds(seconds) {
  return Number.isFinite(seconds) ? seconds.toFixed(1) : "–";
}
