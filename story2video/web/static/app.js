// The page controller: the form, the current story and its operation, and the wiring between the views.

import { initAccount } from "./account.js";
import { api, ApiError, API_KEY_STORAGE, apiKey, ID_PATTERN, newId } from "./api.js";
import { CastPanel } from "./cast.js";
import { $ } from "./dom.js";
import { TERMINAL, followOperation } from "./follow.js";
import { HistoryList } from "./history.js";
import { language, setLanguage, t, translatePage } from "./i18n.js";
import { Notices, clearFieldError, clearFieldErrors, describeError, fieldMessage, setFieldError } from "./notices.js";
import { ProgressPanel } from "./progress.js";
import { Readiness } from "./readiness.js";
import { ShotGrid } from "./shots.js";
import { ScriptPanel } from "./script.js";
import { safeStorage } from "./storage.js";
import { MusicPicker } from "./uploads.js";
import { VideoPanel } from "./video.js";

const KEYS = { user: "s2v.user", story: "s2v.story", operation: "s2v.operation" };
const NARROW = window.matchMedia("(max-width: 899px)");

const state = {
  userId: "",
  story: null, // the Story resource shown in the workspace
  op: null, // the latest operation of that story, running or finished
  follower: null,
  renderDuration: null,
  storyLoad: null, // the GET /stories/{id} in flight, if any
  renderStarting: false, // Render was clicked and its request (or its music upload) is on its way
};

// ------------------------------------------------------------------ elements and views

const form = $("#create-form");
const fields = {
  display_name: $("#title"),
  script_content: $("#script"),
  style: $("#style"),
  aspect_ratio: $("#aspect"),
  shot_count: $("#shot-count"),
  voice: $("#voice"),
  subtitles: $("#subtitles"),
  music: $("#music"),
  music_upload_id: $("#music-file"),
  user_id: $("#user-id"),
};
const createButton = $("#create-button");
const createNotices = new Notices($("#create-notices"));
const workspaceNotices = new Notices($("#workspace-notices"));
const videoNotices = new Notices($("#video-notices"));
const readiness = new Readiness($("#readiness"));
const historyList = new HistoryList($(".sidebar"), { onOpen: (storyId) => openStory(storyId, { focus: true }) });
const progress = new ProgressPanel($("#progress"), { onCancel: cancelOperation });
const grid = new ShotGrid($("#shots"), { onRegenerate: regenerateShot, onUpload: (file) => api.upload(state.userId, file) });
const castPanel = new CastPanel($("#cast"), { onSave: saveCharacter, onUpload: (file) => api.upload(state.userId, file) });
const musicPicker = new MusicPicker(
  {
    input: $("#music-file"),
    chosen: $("#music-file-chosen"),
    name: $("#music-file-name"),
    clear: $("#music-file-clear"),
    status: $("#music-file-status"),
    notices: $("#music-file-notices"),
    toggle: fields.music,
  },
  { upload: (userId, file) => api.upload(userId, file) },
);
const scriptPanel = new ScriptPanel($("#idea-panel"), { userId: () => state.userId, onStoryboard: storyboardFromScript });
const video = new VideoPanel($("#video"), {
  onRender: startRender,
  onError: (title, line) => videoNotices.show("player", { title, lines: [line] }),
  onDownloadAll: downloadAllFiles,
});

/** The story's files as one zip, saved by the browser. */
async function downloadAllFiles() {
  const story = state.story;
  if (!story) return;
  const button = $("#download-all");
  button.disabled = true;
  button.textContent = t("video.downloading");
  try {
    const { blob, name } = await api.storyFiles(state.userId, story.story_id);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    videoNotices.clear("download");
  } catch (error) {
    videoNotices.showError("download", error, { retry: downloadAllFiles });
  } finally {
    button.disabled = false;
    button.textContent = t("video.downloadAll");
  }
}

// ------------------------------------------------------------------ rendering

function isBusy() {
  return Boolean(state.op && !TERMINAL.has(state.op.status));
}

function renderAll() {
  translatePage();
  for (const button of document.querySelectorAll(".lang-button")) button.setAttribute("aria-pressed", String(button.dataset.lang === language()));
  updateScriptCount();
  readiness.render();
  historyList.render();
  grid.translate();
  castPanel.translate();
  musicPicker.render();
  scriptPanel.render();
  renderStory();
}

function renderStory() {
  const { story } = state;
  $("#empty-state").hidden = Boolean(story);
  $("#story").hidden = !story;
  if (!story) {
    grid.clear();
    castPanel.clear();
    progress.render(null, null);
    return;
  }
  $("#workspace-heading").textContent = story.display_name || story.story_id;
  const meta = [story.style || t("story.noStyle"), story.aspect_ratio, t("story.shots", { n: story.shots.length })];
  $("#story-meta").textContent = meta.join(" · ");
  $("#story-script-text").textContent = story.script_content || "";
  const busy = isBusy();
  progress.render(state.op, story);
  castPanel.render(story, busy);
  grid.render(story, state.op, busy);
  video.render(story, busy || state.renderStarting, state.renderDuration);
}

function updateScriptCount() {
  $("#script-count").textContent = t("form.script.count", { n: fields.script_content.value.length });
}

function revealStory() {
  if (!NARROW.matches) return;
  const reduce = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  $("#story").scrollIntoView({ behavior: reduce ? "auto" : "smooth", block: "start" });
}

// ------------------------------------------------------------------ field errors from the service

/** Put a service error next to the field it names (if that field is on the page) and focus it. */
function markField(error, inputs) {
  const input = error.param && inputs[error.param];
  if (!input) return false;
  setFieldError(input, fieldMessage(error));
  (input.matches("fieldset") ? input.querySelector("input") : input).focus();
  return true;
}

// ------------------------------------------------------------------ create

function readCreateForm() {
  const script = fields.script_content.value.trim();
  if (!checkUserId()) return null;
  if (!script) {
    setFieldError(fields.script_content, t("validate.script"));
    fields.script_content.focus();
    return null;
  }
  const body = {
    operation_id: newId("op"),
    story_id: newId("story"),
    user_id: state.userId,
    display_name: fields.display_name.value.trim() || titleFrom(script),
    script_content: script,
    style: fields.style.value.trim(),
    aspect_ratio: form.elements.aspect_ratio.value,
  };
  const shots = fields.shot_count.value.trim();
  if (fields.shot_count.validity.badInput || (shots && !/^\d+$/.test(shots)) || (shots && Number(shots) < 1)) {
    setFieldError(fields.shot_count, t("validate.shots"));
    fields.shot_count.focus();
    return null;
  }
  if (shots) body.shot_count = Number(shots);
  return body;
}

function titleFrom(script) {
  const first = script.split(/[\n。！？.!?]/).find((part) => part.trim()) || script;
  const trimmed = first.trim();
  return trimmed.length > 40 ? `${trimmed.slice(0, 40)}…` : trimmed;
}

async function createStory(body) {
  clearFieldErrors(form);
  createNotices.clearAll();
  createButton.disabled = true;
  createButton.textContent = t("form.submitting");
  let op;
  try {
    op = await api.createStoryboard(body);
  } catch (error) {
    markField(error, fields);
    createNotices.showError("create", error, { retry: () => createStory(body) });
    return;
  } finally {
    createButton.disabled = false;
    createButton.textContent = t("form.submit");
  }
  workspaceNotices.clearAll();
  videoNotices.clearAll();
  state.story = {
    story_id: body.story_id,
    user_id: body.user_id,
    display_name: body.display_name,
    style: body.style,
    aspect_ratio: body.aspect_ratio,
    script_content: body.script_content,
    cast: [],
    shots: [],
    video_url: null,
    subtitles_url: null,
  };
  state.renderDuration = null;
  grid.clear();
  castPanel.clear();
  safeStorage.set(KEYS.story, body.story_id);
  historyList.setCurrent(body.story_id);
  follow(op);
  revealStory();
}

/** "Start from an idea": an episode of a written script becomes a story that takes the script's cast. */
function storyboardFromScript({ scriptId, episode, title }) {
  if (!checkUserId()) return;
  createStory({
    operation_id: newId("op"),
    story_id: newId("story"),
    user_id: state.userId,
    display_name: title,
    script_id: scriptId,
    episode,
    style: fields.style.value.trim(),
    aspect_ratio: form.elements.aspect_ratio.value,
  });
}

// ------------------------------------------------------------------ regenerate and render

/** Called by a shot's editor; throws (the editor shows it) if the operation could not start. */
async function regenerateShot(shot, changes) {
  const story = state.story;
  const op = await api.regenerateShot({ operation_id: newId("op"), story_id: story.story_id, shot_id: shot.id, user_id: state.userId, ...changes });
  const { image_upload_id: _picture, ...words } = changes;
  if ("narration" in words && words.narration !== shot.narration) shot.lines = []; // the service drops the old lines too
  Object.assign(shot, words); // show the new words at once; the keyframe follows
  progress.hintShot(op.operation_id, shot.id);
  workspaceNotices.clear("operation");
  follow(op);
}

/** Called by the cast editor; throws (the editor shows it at its field) if the service refused the edit. */
async function saveCharacter(character, changes) {
  const story = state.story;
  const saved = await api.updateCharacter(state.userId, story.story_id, character.character_id, changes);
  if (state.story === story) {
    story.cast = story.cast.map((member) => (member.character_id === saved.character_id ? saved : member));
    renderStory();
    await loadStory(); // a new look forgets the keyframes of the character's shots: show them as waiting for the next render
    forgetFinishedProgress(saved.shot_ids);
    renderStory();
  }
  return saved;
}

/** A finished operation's view of shots whose keyframe was dropped since is out of date: the story speaks for them. */
function forgetFinishedProgress(shotIds) {
  const op = state.op;
  if (!op || !TERMINAL.has(op.status) || !op.shots || !state.story) return;
  const dropped = state.story.shots.filter((shot) => shotIds.includes(shot.id) && !shot.image_url).map((shot) => shot.id);
  if (!dropped.length) return;
  const shots = { ...op.shots };
  for (const id of dropped) delete shots[id];
  state.op = { ...op, shots };
}

async function startRender() {
  const story = state.story;
  if (!story || state.renderStarting) return;
  state.renderStarting = true;
  try {
    await sendRender(story);
  } finally {
    state.renderStarting = false;
    renderStory();
  }
}

async function sendRender(story) {
  clearFieldError(fields.voice);
  clearFieldError(fields.music_upload_id);
  videoNotices.clearAll();
  workspaceNotices.clear("operation");
  const body = {
    operation_id: newId("op"),
    story_id: story.story_id,
    user_id: state.userId,
    subtitles: fields.subtitles.checked,
    music: fields.music.checked,
  };
  const voice = fields.voice.value.trim();
  if (voice) body.voice = voice;
  video.renderButton.disabled = true;
  // The music file was uploaded when it was chosen; this waits for it (or tries again) and stops if it is unusable.
  try {
    const musicUploadId = await musicPicker.uploadId();
    if (musicUploadId) body.music_upload_id = musicUploadId;
  } catch (error) {
    videoNotices.show("music", { title: t("music.notRendered"), lines: [t("music.problem", { reason: describeError(error).title })] });
    musicPicker.focus();
    renderStory();
    return;
  }
  if (state.story !== story || isBusy()) {
    renderStory(); // another story was opened, or an operation started, while the music was uploading
    return;
  }
  let op;
  try {
    op = await api.renderVideo(body);
  } catch (error) {
    markField(error, fields);
    videoNotices.showError("render", error, { retry: startRender });
    renderStory();
    return;
  }
  state.renderDuration = null;
  follow(op);
}

async function cancelOperation() {
  if (!state.op) return;
  try {
    await api.cancel(state.op.operation_id, state.op.user_id);
  } catch (error) {
    if (error.code !== "operation_finished") workspaceNotices.showError("cancel", error);
  }
}

// ------------------------------------------------------------------ following an operation

function stopFollowing() {
  if (state.follower) state.follower.stop();
  state.follower = null;
}

function follow(op) {
  stopFollowing();
  castPanel.clearStatus();
  state.op = op;
  safeStorage.set(KEYS.operation, op.operation_id);
  const follower = followOperation(op, {
    onChange: (next) => {
      if (state.follower !== follower) return;
      state.op = next;
      if (hasUnknownShots(next)) loadStory();
      renderStory();
    },
    onTrouble: (error) => {
      if (state.follower !== follower) return;
      if (!error) workspaceNotices.clear("poll");
      else workspaceNotices.showError(error.code === "stream" ? "stream" : "poll", error, { tone: "warning" });
    },
  });
  state.follower = follower;
  renderStory();
  follower.done.then(
    (finished) => state.follower === follower && operationFinished(finished),
    (error) => {
      if (state.follower !== follower) return;
      safeStorage.set(KEYS.operation, null);
      state.op = null;
      workspaceNotices.showError("operation", error);
      renderStory();
    },
  );
}

/** Once the storyboard is written, the operation names shots this page has not loaded yet. */
function hasUnknownShots(op) {
  const story = state.story;
  if (!story || op.story_id !== story.story_id) return false;
  return Object.keys(op.shots || {}).some((id) => !story.shots.some((shot) => shot.id === id));
}

async function operationFinished(op) {
  safeStorage.set(KEYS.operation, null);
  workspaceNotices.clear("stream");
  workspaceNotices.clear("poll");
  if (op.status === "Success" && op.kind === "video.render") state.renderDuration = op.result ? op.result.duration : null;
  if (op.status === "Failed") {
    const error = ApiError.fromBody(op.error);
    const failedShot = error.shotId && state.story && state.story.shots.find((shot) => shot.id === error.shotId);
    if (failedShot) error.shotLabel = failedShot.sequence;
    const retry = op.kind === "video.render" ? startRender : null;
    (op.kind === "video.render" ? videoNotices : workspaceNotices).showError("operation", error, { retry });
    if (["backend_unavailable", "backend_timeout", "backend_error"].includes(error.code)) readiness.check();
  }
  await loadStory();
  historyList.load(state.userId);
}

// ------------------------------------------------------------------ stories

/** Reload the current story (shots, artifacts, video); a second call while one runs waits for it and loads again. */
async function loadStory() {
  if (state.storyLoad) {
    state.storyLoad.again = true;
    return state.storyLoad.promise;
  }
  const load = { again: false };
  state.storyLoad = load;
  load.promise = (async () => {
    do {
      load.again = false;
      const story = state.story;
      if (!story) break;
      try {
        const fresh = await api.story(state.userId, story.story_id);
        if (state.story && state.story.story_id === fresh.story_id) state.story = fresh;
        workspaceNotices.clear("story");
      } catch (error) {
        // A story is saved once its storyboard is written: before that (or if writing it failed) a 404 is expected.
        const notSavedYet = error.status === 404 && story.shots.length === 0;
        if (!notSavedYet) workspaceNotices.showError("story", error, { retry: loadStory });
      }
      renderStory();
    } while (load.again);
  })();
  try {
    await load.promise;
  } finally {
    state.storyLoad = null;
  }
}

async function openStory(storyId, { focus = false, quietIfMissing = false } = {}) {
  stopFollowing();
  workspaceNotices.clearAll();
  videoNotices.clearAll();
  let story;
  try {
    story = await api.story(state.userId, storyId);
  } catch (error) {
    if (error.status === 404 && quietIfMissing) {
      safeStorage.set(KEYS.story, null);
      return null;
    }
    workspaceNotices.showError("story", error, { retry: () => openStory(storyId, { focus }) });
    return null;
  }
  state.story = story;
  state.op = null;
  state.renderDuration = null;
  grid.clear();
  castPanel.clear();
  safeStorage.set(KEYS.story, storyId);
  historyList.setCurrent(storyId);
  renderStory();
  if (focus) {
    revealStory();
    $("#workspace-heading").focus({ preventScroll: NARROW.matches });
  }
  return story;
}

/** After a reload: reopen the last story, and pick up its operation if one was still running. */
async function restore() {
  const operationId = safeStorage.get(KEYS.operation);
  if (operationId && ID_PATTERN.test(operationId)) {
    try {
      const op = await api.operation(operationId, state.userId);
      if (op.user_id === state.userId && !TERMINAL.has(op.status)) {
        const story = await openStory(op.story_id, { quietIfMissing: true });
        if (!story) {
          state.story = { story_id: op.story_id, display_name: "", style: "", aspect_ratio: "16:9", script_content: "", shots: [] };
        }
        follow(op);
        return;
      }
    } catch (error) {
      if (error.status !== 404) workspaceNotices.showError("operation", error);
    }
    safeStorage.set(KEYS.operation, null);
  }
  const storyId = safeStorage.get(KEYS.story);
  if (storyId && ID_PATTERN.test(storyId)) await openStory(storyId, { quietIfMissing: true });
}

// ------------------------------------------------------------------ user id and language

function checkUserId() {
  const value = fields.user_id.value.trim();
  if (!ID_PATTERN.test(value)) {
    setFieldError(fields.user_id, t("validate.userId"));
    fields.user_id.focus();
    return false;
  }
  clearFieldError(fields.user_id);
  return true;
}

function changeUser() {
  if (!checkUserId()) return;
  const value = fields.user_id.value.trim();
  if (value === state.userId) return;
  state.userId = value;
  musicPicker.setUser(value);
  safeStorage.set(KEYS.user, value);
  safeStorage.set(KEYS.story, null);
  safeStorage.set(KEYS.operation, null);
  stopFollowing();
  state.story = null;
  state.op = null;
  workspaceNotices.clearAll();
  renderStory();
  historyList.setCurrent(null);
  historyList.stories = null;
  historyList.load(value);
}

/** A signed-in person works as their account's user: the id field shows it and cannot be changed. */
function useAccount({ user_id: userId }) {
  fields.user_id.readOnly = true;
  readiness.check();
  if (userId === state.userId) {
    historyList.load(userId);
    return;
  }
  fields.user_id.value = userId;
  changeUser();
}

function useExample() {
  fields.display_name.value = t("example.title");
  fields.script_content.value = t("example.script");
  if (!fields.style.value) fields.style.value = language() === "zh" ? "水彩" : "watercolor";
  clearFieldErrors(form);
  updateScriptCount();
  fields.script_content.focus();
}

// ------------------------------------------------------------------ start

function init() {
  const saved = safeStorage.get(KEYS.user);
  state.userId = saved && ID_PATTERN.test(saved) ? saved : newId("u");
  safeStorage.set(KEYS.user, state.userId);
  musicPicker.setUser(state.userId);
  fields.user_id.value = state.userId;
  const keyInput = $("#api-key");
  keyInput.value = apiKey();
  keyInput.addEventListener("change", () => {
    safeStorage.set(API_KEY_STORAGE, keyInput.value.trim() || null);
    readiness.check();
    historyList.load(state.userId);
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    createNotices.clearAll();
    const body = readCreateForm();
    if (body) createStory(body);
  });
  fields.script_content.addEventListener("input", updateScriptCount);
  fields.user_id.addEventListener("change", changeUser);
  fields.user_id.addEventListener("keydown", (event) => {
    if (event.key === "Enter") changeUser();
  });
  for (const input of form.querySelectorAll("input, textarea")) input.addEventListener("input", () => clearFieldError(input.closest("#aspect") || input));
  $("#use-example").addEventListener("click", useExample);
  for (const button of document.querySelectorAll(".lang-button")) {
    button.addEventListener("click", () => {
      setLanguage(button.dataset.lang);
      renderAll();
    });
  }
  renderAll();
  readiness.check();
  historyList.load(state.userId);
  restore();
  initAccount({ onSignedIn: useAccount, onSignedOut: () => (fields.user_id.readOnly = false) });
}

init();
