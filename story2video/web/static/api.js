// The HTTP API of /api/v1: every failure becomes an ApiError with the service's {code, message, param, ...}.

import { accessToken } from "./account.js";
import { safeStorage } from "./storage.js";

export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const API_KEY_STORAGE = "s2v.apiKey";

/** The API key the person entered (only needed when the service has API_KEYS set). */
export function apiKey() {
  return (safeStorage.get(API_KEY_STORAGE) || "").trim();
}

/** Whether requests carry credentials in headers (a signed-in person's token or an API key): EventSource cannot. */
export function usesHeaderAuth() {
  return Boolean(accessToken() || apiKey());
}

function authHeaders() {
  const token = accessToken();
  if (token) return { Authorization: `Bearer ${token}` };
  const key = apiKey();
  return key ? { "X-API-Key": key } : {};
}

export class ApiError extends Error {
  constructor({ status = 0, code = "internal_error", message = "", param = null, stage = null, shotId = null, backend = null, retryAfter = null }) {
    super(message || code);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.param = param;
    this.stage = stage;
    this.shotId = shotId;
    this.backend = backend;
    this.retryAfter = retryAfter;
  }

  /** An operation's stored error ({code, message, stage, shot_id, backend}) as an ApiError. */
  static fromBody(body, status = 0, retryAfter = null) {
    const error = body && typeof body === "object" ? body : {};
    return new ApiError({
      status,
      code: error.code || "http_error",
      message: error.message || "",
      param: error.param || null,
      stage: error.stage || null,
      shotId: error.shot_id || null,
      backend: error.backend || null,
      retryAfter,
    });
  }
}

/** A random id that matches ID_PATTERN. crypto.randomUUID needs a secure context; getRandomValues does not. */
export function newId(prefix) {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `${prefix}-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** URLs relative to the page, so the UI also works behind a proxy that serves it under a path prefix. */
export function apiUrl(path, query) {
  const url = new URL(`api/v1/${path}`, document.baseURI);
  for (const [key, value] of Object.entries(query || {})) url.searchParams.set(key, value);
  return url.toString();
}

/** body: sent as JSON; file: a File/Blob sent as the raw body (uploads are not forms). */
async function request(method, path, { body, file, query, prefer } = {}) {
  const headers = { Accept: "application/json", ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (file !== undefined) headers["Content-Type"] = file.type || "application/octet-stream";
  if (prefer) headers.Prefer = prefer;
  let response;
  try {
    response = await fetch(apiUrl(path, query), { method, headers, body: file !== undefined ? file : body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ApiError({ status: 0, code: "network", message: error.message });
  }
  if (response.status === 204) return null;
  const text = await response.text().catch(() => "");
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: handled below */
  }
  if (!response.ok) {
    const retryAfter = parseRetryAfter(response.headers.get("Retry-After"));
    if (data && data.error) throw ApiError.fromBody(data.error, response.status, retryAfter);
    const message = `${response.status} ${response.statusText} ${text.slice(0, 200)}`.trim();
    throw new ApiError({ status: response.status, code: "http_error", message, retryAfter });
  }
  if (data === null) throw new ApiError({ status: response.status, code: "bad_response", message: text.slice(0, 200) });
  return data;
}

/** A file the service sends as an attachment, fetched with the page's credentials (a plain link cannot carry them). */
async function download(path, query) {
  let response;
  try {
    response = await fetch(apiUrl(path, query), { headers: authHeaders() });
  } catch (error) {
    throw new ApiError({ status: 0, code: "network", message: error.message });
  }
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    if (data && data.error) throw ApiError.fromBody(data.error, response.status);
    throw new ApiError({ status: response.status, code: "http_error", message: `${response.status} ${response.statusText}` });
  }
  const disposition = response.headers.get("Content-Disposition") || "";
  const utf8 = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  const plain = /filename="?([^";]+)"?/i.exec(disposition);
  const name = utf8 ? decodeURIComponent(utf8[1]) : plain ? plain[1] : "download";
  return { blob: await response.blob(), name };
}

function parseRetryAfter(value) {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** Operation ids are per user: naming the user finds the operation whoever else chose the same id. */
function operationPath(operationId, rest = "") {
  return `operations/${encodeURIComponent(operationId)}${rest}`;
}

function userQuery(userId) {
  return userId ? { user_id: userId } : undefined;
}

/** Start an operation without waiting for it: the answer is the operation resource (202). */
function start(path, body) {
  return request("POST", path, { body, prefer: "respond-async" });
}

export const api = {
  createStoryboard: (body) => start("storyboard/create", body),
  regenerateShot: (body) => start("shot/regenerate", body),
  renderVideo: (body) => start("video/render", body),
  operation: (operationId, userId) => request("GET", operationPath(operationId), { query: userQuery(userId) }),
  cancel: (operationId, userId) => request("POST", operationPath(operationId, "/cancel"), { query: userQuery(userId) }),
  eventsUrl: (operationId, userId) => apiUrl(operationPath(operationId, "/events"), userQuery(userId)),
  stories: (userId) => request("GET", "stories", { query: { user_id: userId, limit: 50 } }),
  story: (userId, storyId) => request("GET", `stories/${encodeURIComponent(storyId)}`, { query: { user_id: userId } }),
  /** Edit one character of the story's cast; changes: the fields to change (and reference_upload_id or redraw_reference). */
  updateCharacter: (userId, storyId, characterId, changes) =>
    request("PATCH", `stories/${encodeURIComponent(storyId)}/cast/${encodeURIComponent(characterId)}`, { body: { user_id: userId, ...changes } }),
  /** Every file of the story (keyframes, narration, clips, segments, video, subtitles, storyboard) in one zip. */
  storyFiles: (userId, storyId) => download(`stories/${encodeURIComponent(storyId)}/files/download`, { user_id: userId }),
  ready: () => readiness(),
  /** Store a picture or audio file for this user; the answer is the Upload ({upload_id, kind, ...}). */
  upload: (userId, file) => request("POST", "uploads", { file, query: { user_id: userId, filename: uploadName(file.name) } }),
};

/** The name is only kept for display; the service refuses control characters and names over 200 characters. */
function uploadName(name) {
  return Array.from(String(name || "").replace(/[\u0000-\u001f\u007f]/g, "")).slice(0, 200).join("");
}

/** /ready answers 503 with the same body when a backend is down: both are a readable answer. */
async function readiness() {
  let response;
  try {
    response = await fetch(new URL("ready", document.baseURI), { headers: { Accept: "application/json", ...authHeaders() } });
  } catch (error) {
    throw new ApiError({ status: 0, code: "network", message: error.message });
  }
  const data = await response.json().catch(() => null);
  if (!data || !Array.isArray(data.backends)) {
    throw new ApiError({ status: response.status, code: "bad_response", message: `${response.status} ${response.statusText}` });
  }
  return data;
}
