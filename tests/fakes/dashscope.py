"""A fake DashScope on 127.0.0.1 speaking its wire protocols.

- ``POST /compatible-mode/v1/chat/completions`` (OpenAI shape) and ``GET /compatible-mode/v1/models``
- ``POST /api/v1/services/aigc/text2image/image-synthesis`` and ``.../video-generation/video-synthesis``
  (only with ``X-DashScope-Async: enable``) → ``{"output": {"task_id", "task_status": "PENDING"}}``
- ``POST /api/v1/services/aigc/multimodal-generation/generation`` (synchronous only; Qwen-Image 2.x also takes up
  to three ``{"image": "data:image/png;base64,..."}`` parts before the text; for qwen-image-max and
  Qwen-Image 2.x) → ``{"output": {"choices": [{"message": {"content": [{"image": url}]}}]}}``
- Models are those of the fake's region (``region="beijing"`` or ``"singapore"``, the documented names of
  each); another region's name, an unknown name, a resolution tier or duration the model lacks is a 400
- ``GET /api/v1/tasks/{id}``: PENDING → RUNNING → SUCCEEDED (or a scripted FAILED/UNKNOWN/...); an id it
  never issued is UNKNOWN. A task is done after ``polls_until_done`` polls and, for a kind listed in
  ``task_seconds``, that many seconds after its submission (a slow task a test can kill a worker during).
  Every client may poll every task: a second worker resumes the first one's.
- ``GET /results/{name}``: the task results, on signed-looking URLs that can be made to expire
- ``WS /api-ws/v1/inference``: CosyVoice run-task / continue-task / finish-task with binary audio; with
  ``word_timestamp_enabled`` the sentence events carry word times (``sentence.words``, ms): every word
  (a Chinese character, a Latin word) gets an equal share of the audio, whatever its length

Errors use DashScope's bodies ``{"code", "message", "request_id"}``. Anything whose prompt or text
contains ``MARKER`` is refused by "content moderation" (DataInspectionFailed).

Accepted tasks are counted by kind in ``submissions`` (``fake.submissions["video"]``); ``GET /_fake/stats``
(no auth) answers the same counts as JSON, for a fake run as a process of its own:

    python -m tests.fakes.dashscope --port 8311 --video-seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import io
import json
import math
import re
import struct
import signal
import subprocess
import tempfile
import threading
import time
import uuid
import wave
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from story2video.media.ffmpeg import locate_ffmpeg
from tests.fakes.asgi_thread import ServerThread

KEY = "sk-test-9f8e7d6c5b4a-NEVER-LOG-ME"
MARKER = "FORBIDDEN"
QWEN_SIZES = {"1664*928", "1472*1140", "1328*1328", "1140*1472", "928*1664"}
QWEN_MAX_SIZES = {"1664*928", "1472*1104", "1328*1328", "1104*1472", "928*1664"}
# region -> async text2image models, synchronous multimodal-generation image models, image-to-video
# models with (resolution tiers, durations)
TASK_IMAGE_MODELS = {
    "beijing": {"qwen-image-plus", "qwen-image", "wan2.2-t2i-flash", "wanx2.1-t2i-turbo", "wanx-v1"},
    "singapore": {"qwen-image-plus", "qwen-image", "wan2.2-t2i-flash", "wan2.1-t2i-turbo"},
}
SYNC_IMAGE_MODELS = {"beijing": {"qwen-image-max", "qwen-image-2.0", "qwen-image-2.0-pro"}, "singapore": {"qwen-image-max"}}
_WAN_BOTH = {
    "wan2.6-i2v": ({"720P", "1080P"}, {5, 10, 15}),
    "wan2.5-i2v-preview": ({"480P", "720P", "1080P"}, {5, 10}),
    "wan2.2-i2v-plus": ({"480P", "1080P"}, {5}),
}
VIDEO_MODELS = {
    "beijing": {
        **_WAN_BOTH,
        "wan2.2-i2v-flash": ({"480P", "720P", "1080P"}, {5}),
        "wanx2.1-i2v-turbo": ({"480P", "720P"}, {3, 4, 5}),
        "wanx2.1-i2v-plus": ({"720P"}, {5}),
    },
    "singapore": {
        **_WAN_BOTH,
        "wan2.2-i2v-flash": ({"480P", "720P"}, {5}),
        "wan2.1-i2v-turbo": ({"480P", "720P"}, {3, 4, 5}),
        "wan2.1-i2v-plus": ({"720P"}, {5}),
    },
}
TIERS = {"480P": 480, "720P": 720, "1080P": 1080}
VOICES = {  # cosyvoice-v2 system voices
    "longxiaochun_v2", "longwan_v2", "longhua_v2", "longxing_v2", "longyue_v2", "longyuan_v2", "longfeifei_v2", "longcheng_v2",
    "longshu_v2", "longxiaocheng_v2", "longze_v2", "longshuo_v2", "longtian_v2", "longfei_v2", "longling_v2", "longke_v2",
    "longxian_v2", "longjielidou_v2",
}
SECONDS_PER_CHAR = 0.05
SOFTEN_CUE = "content-safety filter"
_VIDEOS: dict[tuple[int, int, int], bytes] = {}


@dataclass
class Canned:
    """One scripted HTTP answer, served before the normal behaviour of its route."""

    status: int
    body: dict
    headers: dict = field(default_factory=dict)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict
    body: dict | None


@dataclass
class _Task:
    kind: str  # "image" | "video"
    request: dict
    outcome: dict | None  # None = succeed; else the output fields of a failed task
    submitted_at: float = field(default_factory=time.monotonic)
    polls: int = 0
    done: bool = False  # reported in a terminal status at least once
    output: dict | None = None


def error_body(code: str, message: str) -> dict:
    return {"code": code, "message": message, "request_id": uuid.uuid4().hex}


class FakeDashScope:
    def __init__(self, ffmpeg: Path, api_key: str = KEY, port: int = 0, region: str = "beijing"):
        self.ffmpeg = ffmpeg
        self.api_key = api_key
        self.region = region
        self.requests: list[Recorded] = []
        self.chat_replies: list[str] = []  # served before the built-in storyboard writer
        self.canned: dict[str, list[Canned]] = defaultdict(list)  # route -> answers to serve first
        self.task_outcomes: list[dict | None] = []  # per submitted task in order; None = success
        self.polls_until_done = 2  # PENDING, RUNNING, then the outcome
        self.suspended = False  # True: the polls after the first answer SUSPENDED (held back) instead of RUNNING
        self.task_seconds: dict[str, float] = {"image": 0.0, "video": 0.0}  # least time from submission to the outcome
        self.submissions: Counter[str] = Counter()  # accepted tasks by kind: "image", "video"
        self.input_pictures: list[list[bytes]] = []  # the decoded image parts of each accepted synchronous image call
        self.expire_downloads = 0  # the next N result downloads answer 403 "expired"
        self.soften_keeps_marker = False
        self.denied_models: set[str] = set()
        self.tts_denials: list[Canned] = []  # handshake refusals, served first
        self.tts_failures: list[dict] = []  # task-failed headers, served first (after the text arrived)
        self.tts_runs: list[dict] = []
        self.tts_texts: list[str] = []
        self.fetched_images: list[str] = []  # how each image-to-video task got its keyframe: "data" or a URL
        self.tasks: dict[str, _Task] = {}
        self.active_tasks = 0  # submitted and not yet reported finished
        self.max_active_tasks = 0
        self.files: dict[str, tuple[bytes, str]] = {}
        self.server = ServerThread(self._app(), port)

    # ------------------------------------------------------------ set-up

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/api-ws/v1/inference"

    def start(self) -> "FakeDashScope":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def settings(self) -> dict:
        """Settings overrides pointing the service at this fake, with millisecond waits."""
        return {
            "dashscope_api_key": self.api_key,
            "dashscope_base_url": self.url,
            "dashscope_region": self.region,
            "api_retry_attempts": 3,
            "api_retry_base_delay": 0.001,
            "api_retry_max_delay": 0.01,
            "dashscope_poll_interval_s": 0.001,
            "dashscope_poll_max_interval_s": 0.005,
            "dashscope_task_timeout_s": 30.0,
            "dashscope_request_timeout_s": 10.0,
        }

    def paths(self, prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/compatible-mode/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/compatible-mode/v1/models", self._models, methods=["GET"]),
                Route("/api/v1/services/aigc/text2image/image-synthesis", self._submit_image, methods=["POST"]),
                Route("/api/v1/services/aigc/video-generation/video-synthesis", self._submit_video, methods=["POST"]),
                Route("/api/v1/services/aigc/multimodal-generation/generation", self._generate_image, methods=["POST"]),
                Route("/api/v1/tasks/{task_id}", self._task, methods=["GET"]),
                Route("/results/{name}", self._result, methods=["GET"]),
                WebSocketRoute("/api-ws/v1/inference", self._tts),
                Route("/_fake/stats", self._stats, methods=["GET"]),
            ]
        )

    # ------------------------------------------------------------ common

    async def _admit(self, request: Request, route: str) -> tuple[dict | None, Response | None]:
        """Record the request; answer 401 for a wrong key, or a canned answer queued for ``route``."""
        body = json.loads(await request.body() or b"null")
        self.requests.append(Recorded(request.method, request.url.path, dict(request.headers), body))
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return body, JSONResponse(error_body("InvalidApiKey", "Invalid API-key provided."), status_code=401)
        if self.canned[route]:
            canned = self.canned[route].pop(0)
            return body, JSONResponse(canned.body, status_code=canned.status, headers=canned.headers)
        return body, None

    # ------------------------------------------------------------ chat

    async def _models(self, request: Request) -> Response:
        _, refusal = await self._admit(request, "models")
        return refusal or JSONResponse({"object": "list", "data": [{"id": "qwen-plus", "object": "model"}]})

    async def _chat(self, request: Request) -> Response:
        body, refusal = await self._admit(request, "chat")
        if refusal:
            return refusal
        messages = body["messages"]
        if body["model"].startswith("qwen3") and body.get("enable_thinking") is not False and not body.get("stream"):
            message = "parameter.enable_thinking must be set to false for non-streaming calls"
            return JSONResponse(error_body("InvalidParameter", message), status_code=400)
        if body.get("response_format", {}).get("type") == "json_object" and not any("json" in m["content"].lower() for m in messages):
            return JSONResponse(error_body("InvalidParameter", "'messages' must contain the word 'json' in some form"), status_code=400)
        content = self._chat_reply(messages)
        usage = {"prompt_tokens": 100, "completion_tokens": 200, "total_tokens": 300}
        choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        return JSONResponse({"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "model": body["model"], "choices": [choice], "usage": usage})

    def _chat_reply(self, messages: list[dict]) -> str:
        if SOFTEN_CUE in messages[0]["content"]:
            prompt = messages[-1]["content"]
            return prompt if self.soften_keeps_marker else prompt.replace(MARKER, "gentle")
        if self.chat_replies:
            return self.chat_replies.pop(0)
        request = next((m["content"] for m in messages if m["role"] == "user" and "Script:\n" in m["content"]), None)
        return storyboard_reply(request) if request else "Hello from the fake Qwen."

    # ------------------------------------------------------------ tasks

    async def _submit_image(self, request: Request) -> Response:
        body, refusal = await self._admit(request, "image")
        if refusal:
            return refusal
        problem = self._async_refusal(request)
        if not problem and body["model"] in SYNC_IMAGE_MODELS[self.region]:
            problem = JSONResponse(error_body("InvalidParameter", f"Model {body['model']} does not support asynchronous calls"), status_code=400)
        problem = problem or self._model_refusal(body["model"], TASK_IMAGE_MODELS[self.region])
        problem = problem or _moderation(body["input"]["prompt"])
        size = body.get("parameters", {}).get("size", "")
        if not problem and body["model"].startswith("qwen-image") and size not in QWEN_SIZES:
            problem = JSONResponse(error_body("InvalidParameter", f"size {size} is not supported"), status_code=400)
        return problem or self._new_task("image", body)

    async def _submit_video(self, request: Request) -> Response:
        body, refusal = await self._admit(request, "video")
        if refusal:
            return refusal
        models = VIDEO_MODELS[self.region]
        problem = self._async_refusal(request) or self._model_refusal(body["model"], set(models))
        problem = problem or _moderation(body["input"]["prompt"])
        if not problem and body["parameters"]["resolution"] not in models[body["model"]][0]:
            problem = JSONResponse(error_body("InvalidParameter", "resolution is not supported"), status_code=400)
        if not problem and body["parameters"]["duration"] not in models[body["model"]][1]:
            problem = JSONResponse(error_body("InvalidParameter", "duration is not supported"), status_code=400)
        if not problem:
            body["keyframe_size"] = await self._keyframe_size(body["input"]["img_url"])
            if not all(360 <= side <= 2000 for side in body["keyframe_size"]):
                message = f"The image size {body['keyframe_size']} is invalid: width and height must be in [360, 2000]"
                problem = JSONResponse(error_body("InvalidParameter", message), status_code=400)
        return problem or self._new_task("video", body)

    async def _generate_image(self, request: Request) -> Response:
        """The synchronous image call: the image is drawn before the answer."""
        body, refusal = await self._admit(request, "image")
        if refusal:
            return refusal
        if request.headers.get("x-dashscope-async") == "enable":
            return JSONResponse(error_body("AccessDenied", "current user api does not support asynchronous calls"), status_code=403)
        problem = self._model_refusal(body["model"], SYNC_IMAGE_MODELS[self.region])
        messages = body["input"]["messages"]
        prompt = "".join(part.get("text", "") for part in messages[0]["content"]) if not problem else ""
        problem = problem or _moderation(prompt)
        pictures, refusal = ([], None) if problem else _input_pictures(body["model"], messages[0]["content"])
        problem = problem or refusal
        size = body.get("parameters", {}).get("size", "1664*928")
        width, height = (int(side) for side in size.split("*"))
        if not problem and body["model"] == "qwen-image-max" and size not in QWEN_MAX_SIZES:
            problem = JSONResponse(error_body("InvalidParameter", f"size {size} is not supported"), status_code=400)
        if not problem and not 512 * 512 <= width * height <= 2048 * 2048:
            problem = JSONResponse(error_body("InvalidParameter", f"size {size} is out of range"), status_code=400)
        if problem:
            return problem
        self.submissions["image"] += 1
        self.input_pictures.append(pictures)
        name = self._store(f"{uuid.uuid4()}.png", _png(width, height, prompt), "image/png")
        message = {"role": "assistant", "content": [{"image": self._signed(name)}]}
        usage = {"width": width, "height": height, "image_count": 1}
        return JSONResponse({"request_id": uuid.uuid4().hex, "output": {"choices": [{"finish_reason": "stop", "message": message}]}, "usage": usage})

    def _async_refusal(self, request: Request) -> Response | None:
        if request.headers.get("x-dashscope-async") != "enable":
            return JSONResponse(error_body("AccessDenied", "current user api does not support synchronous calls"), status_code=403)
        return None

    def _model_refusal(self, model: str, known: set[str]) -> Response | None:
        if model in self.denied_models:
            return JSONResponse(error_body("AccessDenied.Unpurchased", "Access to model denied."), status_code=403)
        if model not in known:
            return JSONResponse(error_body("InvalidParameter", "Model not exist."), status_code=400)
        return None

    async def _keyframe_size(self, img_url: str) -> tuple[int, int]:
        if img_url.startswith(("data:image/png;base64,", "data:image/jpeg;base64,")):
            self.fetched_images.append("data")
            data = base64.b64decode(img_url.split(",", 1)[1])
        else:
            self.fetched_images.append(img_url)
            async with httpx.AsyncClient() as http:
                response = await http.get(img_url)
            response.raise_for_status()
            data = response.content
        with Image.open(io.BytesIO(data)) as image:
            return image.size

    def _new_task(self, kind: str, body: dict) -> Response:
        task_id = str(uuid.uuid4())
        outcome = self.task_outcomes.pop(0) if self.task_outcomes else None
        self.tasks[task_id] = _Task(kind, body, outcome)
        self.submissions[kind] += 1
        self.active_tasks += 1
        self.max_active_tasks = max(self.max_active_tasks, self.active_tasks)
        return JSONResponse({"request_id": uuid.uuid4().hex, "output": {"task_id": task_id, "task_status": "PENDING"}})

    async def _task(self, request: Request) -> Response:
        _, refusal = await self._admit(request, "task")
        if refusal:
            return refusal
        task_id = request.path_params["task_id"]
        task = self.tasks.get(task_id)
        if task is None:
            return JSONResponse({"request_id": uuid.uuid4().hex, "output": {"task_id": task_id, "task_status": "UNKNOWN"}})
        task.polls += 1
        busy_for = self.task_seconds.get(task.kind, 0.0) - (time.monotonic() - task.submitted_at)
        if not task.done and (task.polls <= self.polls_until_done or busy_for > 0):
            status = "PENDING" if task.polls == 1 else "SUSPENDED" if self.suspended else "RUNNING"
            return JSONResponse({"request_id": uuid.uuid4().hex, "output": {"task_id": task_id, "task_status": status}})
        if not task.done:
            task.done = True
            self.active_tasks -= 1
        if task.outcome is not None:
            return JSONResponse({"request_id": uuid.uuid4().hex, "output": {"task_id": task_id, **task.outcome}})
        if task.output is None:
            task.output = await self._finish(task_id, task)
        return JSONResponse({"request_id": uuid.uuid4().hex, "output": task.output, "usage": {"count": 1}})

    async def _stats(self, _: Request) -> Response:
        tasks = {task_id: {"kind": task.kind, "polls": task.polls, "done": task.done} for task_id, task in list(self.tasks.items())}
        return JSONResponse({"submissions": dict(self.submissions), "active_tasks": self.active_tasks, "tasks": tasks})

    async def _finish(self, task_id: str, task: _Task) -> dict:
        prompt = task.request["input"]["prompt"]
        extended = task.request.get("parameters", {}).get("prompt_extend", False)
        actual = {"actual_prompt": f"{prompt} (extended by the fake)"} if extended else {}
        if task.kind == "image":
            width, height = (int(side) for side in task.request["parameters"]["size"].split("*"))
            name = self._store(f"{task_id}.png", _png(width, height, prompt), "image/png")
            return {"task_id": task_id, "task_status": "SUCCEEDED", "results": [{"url": self._signed(name), "orig_prompt": prompt, **actual}]}
        size = _video_size(task.request["keyframe_size"], TIERS[task.request["parameters"]["resolution"]])
        data = await self._video(size, int(task.request["parameters"]["duration"]))
        name = self._store(f"{task_id}.mp4", data, "video/mp4")
        return {"task_id": task_id, "task_status": "SUCCEEDED", "orig_prompt": prompt, "video_url": self._signed(name), **actual}

    def _store(self, name: str, data: bytes, media_type: str) -> str:
        self.files[name] = (data, media_type)
        return name

    def _signed(self, name: str) -> str:
        return f"{self.url}/results/{name}?Expires=1900000000&OSSAccessKeyId=LTAIfake&Signature=abc%3D"

    async def _video(self, size: tuple[int, int], seconds: int) -> bytes:
        key = (*size, seconds)
        if key not in _VIDEOS:  # shared by all fakes of the session: encoding takes a while
            _VIDEOS[key] = await asyncio.to_thread(encode_test_video, self.ffmpeg, size, seconds)
        return _VIDEOS[key]

    async def _result(self, request: Request) -> Response:
        self.requests.append(Recorded("GET", request.url.path, dict(request.headers), None))
        if "authorization" in request.headers:  # OSS refuses a signed URL that also carries a header
            return Response("<Error><Code>InvalidArgument</Code></Error>", status_code=400, media_type="application/xml")
        if self.expire_downloads:
            self.expire_downloads -= 1
            return Response("<Error><Code>AccessDenied</Code><Message>Request has expired.</Message></Error>", status_code=403, media_type="application/xml")
        data, media_type = self.files[request.path_params["name"]]
        return Response(data, media_type=media_type)

    # ------------------------------------------------------------ speech (WebSocket)

    async def _tts(self, ws: WebSocket) -> None:
        if self.tts_denials:
            canned = self.tts_denials.pop(0)
            await ws.send_denial_response(JSONResponse(canned.body, status_code=canned.status, headers=canned.headers))
            return
        if ws.headers.get("authorization", "").lower() != f"bearer {self.api_key}".lower():
            await ws.send_denial_response(JSONResponse(error_body("InvalidApiKey", "Invalid API-key provided."), status_code=401))
            return
        await ws.accept()
        run = json.loads(await ws.receive_text())
        task_id = run["header"]["task_id"]
        problem = _run_task_problem(run)
        if problem:
            await _send_event(ws, task_id, "task-failed", error_code="InvalidParameter", error_message=problem)
            await ws.close()
            return
        self.tts_runs.append(run)
        await _send_event(ws, task_id, "task-started")
        text = await _receive_text(ws)
        self.tts_texts.append(text)
        failure = self.tts_failures.pop(0) if self.tts_failures else None
        if failure is None and MARKER in text:
            failure = {"error_code": "DataInspectionFailed", "error_message": "Input text may contain inappropriate content."}
        if failure is not None:
            await _send_event(ws, task_id, "task-failed", **failure)
        else:
            await _send_speech(ws, task_id, text, run["payload"]["parameters"])
        await ws.close()


# ------------------------------------------------------------ helpers


def storyboard_reply(user_message: str) -> str:
    """A valid storyboard for the script in a storyboard request, as JSON text."""
    script = user_message.split("Script:\n", 1)[1]
    exact = re.search(r"exactly (\d+) shots", user_message)
    low, high = (int(exact.group(1)),) * 2 if exact else map(int, re.search(r"between (\d+) and (\d+) shots", user_message).groups())
    sentences = [s for s in re.findall(r"[^。！？.!?\n]+[。！？.!?]?", script) if s.strip()]
    count = min(max(len(sentences), low), high)
    groups = [sentences[i * len(sentences) // count : (i + 1) * len(sentences) // count] or [sentences[-1]] for i in range(count)]
    shots = [
        {"subject": f"镜头{i + 1}", "detail": f"画面：{''.join(g)}", "camera": "中景，镜头缓缓推近", "narration": "".join(g).strip(), "tone": "平静"}
        for i, g in enumerate(groups)
    ]
    return json.dumps({"shots": shots}, ensure_ascii=False)


PICTURE_MODELS = {"qwen-image-2.0": 3, "qwen-image-2.0-pro": 3}  # model -> most input pictures in one call


def _input_pictures(model: str, content: list[dict]) -> tuple[list[bytes], Response | None]:
    """The ``image`` parts of a synchronous call, decoded from their data URIs (the fake fetches no URL)."""
    parts = [part["image"] for part in content if "image" in part]
    if not parts:
        return [], None
    if len(parts) > PICTURE_MODELS.get(model, 0):
        message = f"Model {model} takes at most {PICTURE_MODELS.get(model, 0)} input images, got {len(parts)}"
        return [], JSONResponse(error_body("InvalidParameter", message), status_code=400)
    pictures = []
    for part in parts:
        head, _, data = str(part).partition(",")
        if not (head.startswith("data:image/") and head.endswith(";base64")):
            return [], JSONResponse(error_body("InvalidParameter", "image must be a data:image/...;base64 URI in this fake"), status_code=400)
        try:
            raw = base64.b64decode(data, validate=True)
            Image.open(io.BytesIO(raw)).verify()
        except Exception:  # noqa: BLE001 - any undecodable picture is the caller's error
            return [], JSONResponse(error_body("InvalidParameter", "The input image could not be decoded"), status_code=400)
        pictures.append(raw)
    return pictures, None


def _moderation(prompt: str) -> Response | None:
    if MARKER in prompt:
        return JSONResponse(error_body("DataInspectionFailed", "Input data may contain inappropriate content."), status_code=400)
    return None


def _png(width: int, height: int, prompt: str) -> bytes:
    digest = hashlib.sha256(prompt.encode()).digest()
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), tuple(digest[:3])).save(buffer, format="PNG")
    return buffer.getvalue()


def _video_size(keyframe: tuple[int, int], short: int) -> tuple[int, int]:
    width, height = keyframe
    long = 2 * round(short * max(width, height) / min(width, height) / 2)
    return (long, short) if width >= height else (short, long)


def encode_test_video(ffmpeg: Path, size: tuple[int, int], seconds: int) -> bytes:
    """A silent H.264 MP4 with moving content, as Wan returns (16 fps)."""
    with tempfile.TemporaryDirectory(prefix="fake-wan-") as folder:
        dest = Path(folder) / "clip.mp4"
        command = [str(ffmpeg), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", f"testsrc2=size={size[0]}x{size[1]}:rate=16:duration={seconds}"]
        command += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(dest)]
        subprocess.run(command, capture_output=True, check=True, timeout=120)
        return dest.read_bytes()


def _run_task_problem(run: dict) -> str:
    header, payload = run.get("header", {}), run.get("payload", {})
    parameters = payload.get("parameters", {})
    checks = [
        (header.get("action") == "run-task" and header.get("streaming") == "duplex", "header must be run-task, duplex"),
        ((payload.get("task_group"), payload.get("task"), payload.get("function")) == ("audio", "tts", "SpeechSynthesizer"), "wrong task"),
        (str(payload.get("model", "")).startswith("cosyvoice"), "Model not found"),
        (parameters.get("voice") in VOICES, f"voice {parameters.get('voice')} not found"),
        (parameters.get("format") in ("pcm", "wav"), "unsupported format"),
        (parameters.get("sample_rate") in (8000, 16000, 22050, 24000, 44100, 48000), "unsupported sample_rate"),
        (0.5 <= parameters.get("rate", 1.0) <= 2.0 and 0.5 <= parameters.get("pitch", 1.0) <= 2.0, "rate/pitch out of range"),
    ]
    return next((message for ok, message in checks if not ok), "")


async def _send_event(ws: WebSocket, task_id: str, event: str, payload: dict | None = None, **header: str) -> None:
    message = {"header": {"task_id": task_id, "event": event, "attributes": {}, **header}, "payload": payload or {}}
    await ws.send_text(json.dumps(message, ensure_ascii=False))


async def _receive_text(ws: WebSocket) -> str:
    parts = []
    while True:
        message = json.loads(await ws.receive_text())
        action = message["header"]["action"]
        if action == "finish-task":
            return "".join(parts)
        if action == "continue-task":
            parts.append(message["payload"]["input"]["text"])


async def _send_speech(ws: WebSocket, task_id: str, text: str, parameters: dict) -> None:
    rate = parameters["sample_rate"]
    samples = max(1, int(len(text) * SECONDS_PER_CHAR * rate / parameters.get("rate", 1.0)))
    pcm = b"".join(struct.pack("<h", int(9000 * math.sin(2 * math.pi * 200 * i / rate))) for i in range(samples))
    audio = pcm if parameters["format"] == "pcm" else _wav(pcm, rate)
    words = word_timestamps(text, samples * 1000 // rate) if parameters.get("word_timestamp_enabled") else []
    sentence = {"sentence": {"index": 0, "words": []}, "original_text": text}
    await _send_event(ws, task_id, "result-generated", {"output": {"type": "sentence-begin", **sentence}})
    chunks = range(0, len(audio), 8192)
    for number, start in enumerate(chunks, start=1):
        heard = words[: len(words) * number // len(chunks)]  # the list grows as the sentence is synthesised
        await _send_event(ws, task_id, "result-generated", {"output": {"type": "sentence-synthesis", "sentence": {"index": 0, "words": heard}}})
        await ws.send_bytes(audio[start : start + 8192])
    ended = {"sentence": {"index": 0, "words": words}, "original_text": text}
    await _send_event(ws, task_id, "result-generated", {"output": {"type": "sentence-end", **ended}, "usage": {"characters": len(text)}})
    await _send_event(ws, task_id, "task-finished", {"output": {"sentence": {"index": 0, "words": []}}, "usage": {"characters": len(text)}})


def word_timestamps(text: str, total_ms: int) -> list[dict]:
    """DashScope's word entries for ``text``: each word an equal share of ``total_ms``."""
    found = list(re.finditer(r"[\u3400-\u9fff]|[A-Za-z0-9']+", text))
    share = total_ms / max(1, len(found))
    return [
        {"text": m.group(), "begin_index": m.start(), "end_index": m.end(), "begin_time": round(i * share), "end_time": round((i + 1) * share)}
        for i, m in enumerate(found)
    ]


def _wav(pcm: bytes, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


# ------------------------------------------------------------ as a process of its own


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.dashscope", description="A fake DashScope on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: a free one, printed)")
    parser.add_argument("--video-seconds", type=float, default=0.0, help="least seconds an image-to-video task runs")
    parser.add_argument("--image-seconds", type=float, default=0.0, help="least seconds an image task runs")
    parser.add_argument("--polls-until-done", type=int, default=2, help="polls a task answers PENDING/RUNNING to")
    parser.add_argument("--api-key", default=KEY, help="the only key it accepts")
    parser.add_argument("--region", default="beijing", choices=sorted(VIDEO_MODELS), help="whose model names it offers")
    parser.add_argument("--ffmpeg", default="", help="FFmpeg binary for the result videos (default: found as the service finds it)")
    args = parser.parse_args(argv)
    fake = FakeDashScope(locate_ffmpeg(args.ffmpeg), api_key=args.api_key, port=args.port, region=args.region)
    fake.task_seconds.update(image=args.image_seconds, video=args.video_seconds)
    fake.polls_until_done = args.polls_until_done
    stop = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop.set())
    fake.start()
    print(f"fake DashScope listening on {fake.url} (counts: GET {fake.url}/_fake/stats)", flush=True)
    stop.wait()
    fake.stop()


if __name__ == "__main__":
    main()
