// Follows one operation to its end: Server-Sent Events first, polling GET /operations/{id} if the stream fails.

import { api, ApiError, usesHeaderAuth } from "./api.js";

export const TERMINAL = new Set(["Success", "Failed", "Cancelled"]);
const EVENT_TYPES = ["snapshot", "operation.started", "stage", "progress", "shot", "operation.completed", "operation.failed", "operation.cancelled"];
const POLL_MS = 1000;
const MAX_POLL_BACKOFF_MS = 10000;

/** Apply one SSE event to the operation resource (the same shape GET /operations/{id} returns). */
export function applyEvent(op, type, data) {
  if (type === "snapshot") return { ...data, shots: { ...(data.shots || {}) } };
  const next = { ...op, shots: { ...op.shots } };
  switch (type) {
    case "operation.started":
      next.status = data.status || "Running";
      break;
    case "stage":
      next.stage = data.stage;
      next.progress = Math.max(next.progress || 0, data.progress || 0);
      break;
    case "progress":
      next.progress = Math.max(next.progress || 0, data.progress || 0);
      break;
    case "shot": {
      const { shot_id: shotId, operation_id: _op, stage: _stage, ...progress } = data;
      next.shots[shotId] = progress;
      break;
    }
    case "operation.completed":
      next.status = "Success";
      next.result = data.result;
      next.progress = 1;
      break;
    case "operation.failed":
      next.status = "Failed";
      next.error = data.error;
      break;
    case "operation.cancelled":
      next.status = "Cancelled";
      next.error = data.error;
      for (const [id, shot] of Object.entries(next.shots)) {
        if (shot.state === "waiting" || shot.state === "working") next.shots[id] = { ...shot, state: "cancelled" };
      }
      break;
    default:
      return op;
  }
  return next;
}

/**
 * Follow `initial` (an operation resource) until it ends.
 * onChange(op) runs after every change; onTrouble(error) reports a lost stream or a failed poll (it keeps trying),
 * and onTrouble(null) says that polling works again.
 * Returns {done: Promise<op>, stop()}; `done` rejects with an ApiError if the operation cannot be read at all.
 */
export function followOperation(initial, { onChange, onTrouble, useStream = typeof EventSource === "function" && !usesHeaderAuth() }) {
  let op = initial;
  let source = null;
  let timer = null;
  let stopped = false;
  let resolveDone;
  let rejectDone;
  const done = new Promise((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });

  function update(next) {
    if (stopped) return;
    op = next;
    onChange(op);
    if (TERMINAL.has(op.status)) {
      stop();
      resolveDone(op);
    }
  }

  function openStream() {
    source = new EventSource(api.eventsUrl(op.operation_id, op.user_id));
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (event) => {
        let data;
        try {
          data = JSON.parse(event.data);
        } catch {
          return;
        }
        update(applyEvent(op, type, data));
      });
    }
    source.onerror = () => {
      if (stopped) return;
      // The stream ends only after a terminal event, so an error here means it broke: poll instead.
      source.close();
      source = null;
      onTrouble(new ApiError({ code: "stream", message: "" }));
      poll(0);
    };
  }

  function poll(delay, failures = 0) {
    timer = setTimeout(async () => {
      if (stopped) return;
      try {
        const next = await api.operation(op.operation_id, op.user_id);
        if (failures > 0) onTrouble(null);
        update(next);
        poll(POLL_MS);
      } catch (error) {
        if (stopped) return;
        if (error.status === 404 || error.status === 400) {
          stop();
          rejectDone(error);
          return;
        }
        onTrouble(error);
        poll(Math.min(POLL_MS * 2 ** (failures + 1), MAX_POLL_BACKOFF_MS), failures + 1);
      }
    }, delay);
  }

  function stop() {
    stopped = true;
    if (source) source.close();
    source = null;
    clearTimeout(timer);
  }

  if (TERMINAL.has(op.status)) {
    queueMicrotask(() => update(op));
  } else if (useStream) {
    openStream();
  } else {
    poll(0);
  }
  return { done, stop, current: () => op };
}
