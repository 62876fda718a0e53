// UI strings in English and Chinese, the chosen language (remembered), and helpers to apply them.

import { safeStorage } from "./storage.js";

const STORAGE_KEY = "s2v.lang";
export const LANGUAGES = ["en", "zh"];

const STRINGS = {
  en: {
    "doc.title": "Story2Video: script to short video",
    "app.tagline": "Script in, short video out",
    "skip": "Skip to the storyboard",
    "lang.label": "Language",
    "user.label": "User ID",
    "user.hint": "Your stories are kept under this ID. Use the same ID on another device to see them there.",
    "key.label": "API key",
    "key.placeholder": "only if required",
    "key.hint": "Needed only when the service is set up with API keys. Kept in this browser.",
    "ready.checking": "Checking backends…",
    "ready.ok": "Backends ready",
    "ready.bad": "A backend is unavailable",
    "ready.unreachable": "Service unreachable",
    "ready.mode.cloud": "cloud mode",
    "ready.mode.local": "local GPU mode",
    "ready.notReady": "not ready",
    "ready.stage.storyboard": "Storyboard",
    "ready.stage.keyframes": "Keyframes",
    "ready.stage.clips": "Animation",
    "ready.stage.narration": "Voice",

    "form.heading": "New story",
    "form.storyboard": "Storyboard",
    "form.video": "Video",
    "form.title": "Title",
    "form.title.placeholder": "Untitled story",
    "form.script": "Script",
    "form.script.placeholder": "Paste or write your script here, in Chinese or English. Blank lines separate scenes.",
    "form.script.count": "{n} characters",
    "form.example": "Use an example",
    "form.style": "Style",
    "form.style.hint": "For example 写实 (realistic), 动漫 (anime), 赛博朋克 (cyberpunk), 水墨 (ink wash).",
    "form.aspect": "Aspect ratio",
    "aspect.16:9": "16:9 landscape",
    "aspect.9:16": "9:16 portrait",
    "aspect.1:1": "1:1 square",
    "form.shots": "Number of shots",
    "form.shots.placeholder": "Automatic",
    "form.shots.hint": "Leave empty to let the storyboard choose (4–10).",
    "form.voice": "Voice",
    "form.voice.placeholder": "Automatic",
    "form.voice.hint": "Preview voices: cmn (Mandarin), en-us (English). Leave empty to match the script's language.",
    "form.subtitles": "Burn in subtitles",
    "form.music": "Background music",
    "form.videoHint": "These settings are used when you render the video.",
    "form.submit": "Create storyboard",
    "form.submitting": "Starting…",

    "history.heading": "My stories",
    "history.refresh": "Refresh",
    "history.empty": "No stories yet. Create one and it will be listed here.",
    "history.loading": "Loading…",
    "history.shots": "{n} shots",
    "history.video": "Video",

    "empty.heading": "Your storyboard will appear here",
    "empty.step1": "Paste a script, choose a style and an aspect ratio, then create the storyboard.",
    "empty.step2": "Watch each keyframe being drawn. Edit any shot and redraw just that one.",
    "empty.step3": "Render the video, play it here, and download the MP4 and its subtitles.",

    "story.shots": "{n} shots",
    "story.noStyle": "no style",
    "story.script": "Script",
    "story.loading": "Loading the storyboard…",

    "op.storyboard.create": "Creating the storyboard",
    "op.shot.regenerate": "Redrawing shot {n}",
    "op.video.render": "Rendering the video",
    "stage.storyboard": "writing the shots",
    "stage.keyframes": "drawing keyframes",
    "stage.shots": "narrating and animating shots",
    "stage.final": "joining the final video",
    "stage.narration": "narration",
    "stage.clips": "animation",
    "stage.segments": "cutting the shots",
    "status.Queued": "waiting for a free worker",
    "status.Running": "starting",
    "op.shotsDone": "{done} of {total} shots done",
    "op.cancel": "Cancel",
    "op.cancelling": "Cancelling…",
    "op.done.storyboard.create": "Storyboard ready: {n} shots.",
    "op.done.shot.regenerate": "Shot {n} redrawn.",
    "op.done.video.render": "Video ready ({s} s).",
    "op.cancelled": "Cancelled. Finished pieces are kept, so running it again is quicker.",

    "shot.label": "Shot {n}",
    "state.waiting": "Waiting",
    "state.working": "Working",
    "state.done": "Done",
    "state.failed": "Failed",
    "state.cancelled": "Cancelled",
    "state.none": "No keyframe",
    "step.narration": "voice",
    "step.keyframe": "keyframe",
    "step.clip": "animation",
    "step.segment": "cutting",
    "shot.subject": "Subject",
    "shot.detail": "Detail",
    "shot.narration": "Narration",
    "shot.camera": "Camera",
    "shot.tone": "Tone",
    "shot.edit": "Edit shot {n}",
    "shot.editShort": "Edit",
    "shot.regenerate": "Regenerate this shot",
    "shot.regenerate.hint": "Unchanged fields give you another take with a new seed.",
    "shot.cancelEdit": "Cancel",
    "shot.imageAlt": "Keyframe of shot {n}: {subject}",
    "shot.pending": "Keyframe not drawn yet",
    "shot.imageError": "The keyframe image could not be loaded.",
    "artifact.image": "Image",
    "artifact.audio": "Voice",
    "artifact.video": "Clip",

    "video.heading": "Video",
    "video.render": "Render video",
    "video.rerender": "Render again",
    "video.hint": "Narrates, animates and cuts every shot with the voice, subtitle and music settings of the form.",
    "video.outdated": "Some shots changed after this video was made. Render again to include them.",
    "video.downloadMp4": "Download MP4",
    "video.downloadSrt": "Download subtitles (SRT)",
    "video.duration": "{s} s",
    "video.label": "Finished video of {name}",
    "video.error.title": "The video cannot be played here",
    "video.error": "This browser could not play it ({reason}). The download links still work.",
    "video.error.1": "loading was aborted",
    "video.error.2": "a network error",
    "video.error.3": "it could not be decoded",
    "video.error.4": "the format is not supported",

    "error.title.invalid_request": "Please check the input",
    "error.title.not_found": "Not found",
    "error.title.queue_full": "The service is busy",
    "error.title.operation_id_conflict": "This action was already sent with different settings",
    "error.title.operation_finished": "The operation has already finished",
    "error.title.operation_cancelled": "The operation was cancelled",
    "error.title.backend_unavailable": "A backend is unreachable",
    "error.title.backend_timeout": "A backend did not answer in time",
    "error.title.backend_error": "A backend failed",
    "error.title.invalid_artifact": "A backend returned an unusable result",
    "error.title.media_error": "Video processing failed",
    "error.title.ffmpeg_not_found": "FFmpeg is missing on the server",
    "error.title.interrupted": "The service restarted during this operation",
    "error.title.internal_error": "The service hit an internal error",
    "error.title.storage_full": "The server's disk is full",
    "error.title.configuration_error": "The service is not configured correctly",
    "error.title.network": "Cannot reach the service",
    "error.title.bad_response": "The service sent an unexpected answer",
    "error.title.http_error": "The request failed",
    "error.title.stream": "Live updates were interrupted",
    "error.generic": "Something went wrong",
    "error.network": "Check that Story2Video is running and that this device is online.",
    "error.stream": "Following the progress by asking every second instead.",
    "error.retryIn": "The queue is full. You can try again in {s} s.",
    "error.retryNow": "The queue is full. You can try again now.",
    "error.field": "{field}: {message}",
    "error.where": "Stage: {stage}",
    "error.whereShot": "Stage: {stage}, shot {shot}",
    "error.backend": "Backend: {backend}",
    "error.retry": "Try again",
    "error.dismiss": "Dismiss",
    "error.status": "HTTP {status}",
    "validate.script": "Write or paste a script first.",
    "validate.userId": "Use 1 to 64 letters, digits, hyphens or underscores.",
    "validate.shots": "Enter a whole number of at least 1, or leave it empty.",
    "validate.empty": "This field may not be empty.",

    "example.title": "The paper boat",
    "example.script":
      "At dawn the town bell rang, and Lin opened her wooden window to see mist on the far hills.\n\n" +
      "She carried her sketchbook down the stone path to the river, where a paper boat was drifting by.\n\n" +
      "Written on the boat were the words: please take me to the sea. Lin decided to follow the river.\n\n" +
      "At night fireflies lit the bank, and at last she heard the waves. She let the boat go and smiled.",
  },
  zh: {
    "doc.title": "Story2Video：从剧本到短视频",
    "app.tagline": "输入剧本，生成短视频",
    "skip": "跳到分镜",
    "lang.label": "语言",
    "user.label": "用户 ID",
    "user.hint": "你的故事保存在这个 ID 下。在其他设备上填入同一 ID 即可看到它们。",
    "key.label": "API 密钥",
    "key.placeholder": "仅在需要时填写",
    "key.hint": "仅当服务启用了 API 密钥时需要，只保存在本浏览器中。",
    "ready.checking": "正在检查后端…",
    "ready.ok": "后端就绪",
    "ready.bad": "有后端不可用",
    "ready.unreachable": "无法连接服务",
    "ready.mode.cloud": "云端模式",
    "ready.mode.local": "本地 GPU 模式",
    "ready.notReady": "未就绪",
    "ready.stage.storyboard": "分镜",
    "ready.stage.keyframes": "关键帧",
    "ready.stage.clips": "动画",
    "ready.stage.narration": "配音",

    "form.heading": "新建故事",
    "form.storyboard": "分镜",
    "form.video": "视频",
    "form.title": "标题",
    "form.title.placeholder": "未命名故事",
    "form.script": "剧本",
    "form.script.placeholder": "在这里粘贴或输入剧本，中文或英文均可。空行分隔场景。",
    "form.script.count": "{n} 字",
    "form.example": "填入示例",
    "form.style": "风格",
    "form.style.hint": "例如：写实、动漫、赛博朋克、水墨。",
    "form.aspect": "画面比例",
    "aspect.16:9": "16:9 横屏",
    "aspect.9:16": "9:16 竖屏",
    "aspect.1:1": "1:1 方形",
    "form.shots": "镜头数",
    "form.shots.placeholder": "自动",
    "form.shots.hint": "留空则由分镜自动决定（4–10 个）。",
    "form.voice": "配音",
    "form.voice.placeholder": "自动",
    "form.voice.hint": "预览配音：cmn（普通话）、en-us（英语）。留空则按剧本语言自动选择。",
    "form.subtitles": "烧录字幕",
    "form.music": "背景音乐",
    "form.videoHint": "合成视频时使用这些设置。",
    "form.submit": "生成分镜",
    "form.submitting": "正在提交…",

    "history.heading": "我的故事",
    "history.refresh": "刷新",
    "history.empty": "还没有故事。新建一个后会显示在这里。",
    "history.loading": "加载中…",
    "history.shots": "{n} 个镜头",
    "history.video": "已成片",

    "empty.heading": "分镜将显示在这里",
    "empty.step1": "粘贴剧本，选择风格和画面比例，然后生成分镜。",
    "empty.step2": "实时查看每张关键帧的绘制。可修改任意镜头并只重绘该镜头。",
    "empty.step3": "合成视频，在页面中播放，并下载 MP4 和字幕。",

    "story.shots": "{n} 个镜头",
    "story.noStyle": "未指定风格",
    "story.script": "剧本",
    "story.loading": "正在加载分镜…",

    "op.storyboard.create": "正在生成分镜",
    "op.shot.regenerate": "正在重绘镜头 {n}",
    "op.video.render": "正在合成视频",
    "stage.storyboard": "编写镜头",
    "stage.keyframes": "绘制关键帧",
    "stage.shots": "配音并制作镜头动画",
    "stage.final": "拼接成片",
    "stage.narration": "配音",
    "stage.clips": "动画",
    "stage.segments": "剪辑镜头",
    "status.Queued": "排队等待空闲的工作线程",
    "status.Running": "正在开始",
    "op.shotsDone": "已完成 {done}/{total} 个镜头",
    "op.cancel": "取消",
    "op.cancelling": "正在取消…",
    "op.done.storyboard.create": "分镜已生成：{n} 个镜头。",
    "op.done.shot.regenerate": "镜头 {n} 已重绘。",
    "op.done.video.render": "视频已生成（{s} 秒）。",
    "op.cancelled": "已取消。已完成的部分会保留，再次运行会更快。",

    "shot.label": "镜头 {n}",
    "state.waiting": "等待中",
    "state.working": "生成中",
    "state.done": "完成",
    "state.failed": "失败",
    "state.cancelled": "已取消",
    "state.none": "无关键帧",
    "step.narration": "配音",
    "step.keyframe": "关键帧",
    "step.clip": "动画",
    "step.segment": "剪辑",
    "shot.subject": "主体",
    "shot.detail": "画面细节",
    "shot.narration": "旁白",
    "shot.camera": "镜头运动",
    "shot.tone": "情绪",
    "shot.edit": "编辑镜头 {n}",
    "shot.editShort": "编辑",
    "shot.regenerate": "重新生成此镜头",
    "shot.regenerate.hint": "内容不变时会换一个随机种子，重新画一版。",
    "shot.cancelEdit": "取消",
    "shot.imageAlt": "镜头 {n} 的关键帧：{subject}",
    "shot.pending": "关键帧尚未生成",
    "shot.imageError": "关键帧图片加载失败。",
    "artifact.image": "图像",
    "artifact.audio": "配音",
    "artifact.video": "片段",

    "video.heading": "视频",
    "video.render": "合成视频",
    "video.rerender": "重新合成",
    "video.hint": "按表单中的配音、字幕和音乐设置，为每个镜头配音、制作动画并剪辑成片。",
    "video.outdated": "视频生成后有镜头被修改过。重新合成即可包含这些修改。",
    "video.downloadMp4": "下载 MP4",
    "video.downloadSrt": "下载字幕（SRT）",
    "video.duration": "{s} 秒",
    "video.label": "{name} 的成片",
    "video.error.title": "无法在此播放视频",
    "video.error": "此浏览器无法播放该视频（{reason}）。下载链接仍然可用。",
    "video.error.1": "加载被中止",
    "video.error.2": "网络错误",
    "video.error.3": "无法解码",
    "video.error.4": "不支持该格式",

    "error.title.invalid_request": "请检查输入",
    "error.title.not_found": "未找到",
    "error.title.queue_full": "服务繁忙",
    "error.title.operation_id_conflict": "该操作已用不同的设置提交过",
    "error.title.operation_finished": "该操作已经结束",
    "error.title.operation_cancelled": "该操作已被取消",
    "error.title.backend_unavailable": "无法连接后端",
    "error.title.backend_timeout": "后端响应超时",
    "error.title.backend_error": "后端出错",
    "error.title.invalid_artifact": "后端返回的结果不可用",
    "error.title.media_error": "视频处理失败",
    "error.title.ffmpeg_not_found": "服务器缺少 FFmpeg",
    "error.title.interrupted": "服务在操作过程中重启了",
    "error.title.internal_error": "服务内部错误",
    "error.title.storage_full": "服务器磁盘已满",
    "error.title.configuration_error": "服务配置有误",
    "error.title.network": "无法连接服务",
    "error.title.bad_response": "服务返回了无法识别的内容",
    "error.title.http_error": "请求失败",
    "error.title.stream": "实时更新中断",
    "error.generic": "出错了",
    "error.network": "请确认 Story2Video 正在运行，并且本设备已联网。",
    "error.stream": "改为每秒查询一次进度。",
    "error.retryIn": "队列已满，{s} 秒后可重试。",
    "error.retryNow": "队列已满，现在可以重试。",
    "error.field": "{field}：{message}",
    "error.where": "阶段：{stage}",
    "error.whereShot": "阶段：{stage}，镜头 {shot}",
    "error.backend": "后端：{backend}",
    "error.retry": "重试",
    "error.dismiss": "关闭",
    "error.status": "HTTP {status}",
    "validate.script": "请先输入或粘贴剧本。",
    "validate.userId": "请使用 1–64 个字母、数字、连字符或下划线。",
    "validate.shots": "请输入不小于 1 的整数，或留空。",
    "validate.empty": "此项不能为空。",

    "example.title": "纸船",
    "example.script":
      "清晨，小镇的钟声响起，少女林夏推开木窗，望见远山上的薄雾。\n\n" +
      "她背起画板，沿着青石小路走向河边。河面上漂着一只纸船。\n\n" +
      "纸船上写着一行小字：请把我送到大海。林夏决定跟着河流出发。\n\n" +
      "夜里，萤火虫照亮了河岸，她终于听见了海浪的声音，轻轻放下了纸船。",
  },
};

let current = initialLanguage();

function initialLanguage() {
  const saved = safeStorage.get(STORAGE_KEY);
  if (LANGUAGES.includes(saved)) return saved;
  return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en";
}

export function language() {
  return current;
}

export function setLanguage(lang) {
  if (!LANGUAGES.includes(lang)) return;
  current = lang;
  safeStorage.set(STORAGE_KEY, lang);
}

/** The string for `key` in the current language, with `{name}` placeholders filled from `params`. */
export function t(key, params = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

export function has(key) {
  return key in STRINGS[current] || key in STRINGS.en;
}

/** Fill every element marked with data-i18n (text), data-i18n-placeholder, -aria-label or -title. */
export function translatePage(root = document) {
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
  document.title = t("doc.title");
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-aria-label]")) el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

export function formatDateTime(seconds) {
  const locale = current === "zh" ? "zh-CN" : "en";
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(new Date(seconds * 1000));
}
