"""A fake PixVerse platform API, speaking its protocol.

Every request needs ``API-KEY`` (and carries an ``Ai-trace-id``); answers are ``{"ErrCode", "ErrMsg",
"Resp"}`` with HTTP 200, errors included, as the platform sends them. The ErrCodes are those of
PixVerse's error-code table:

- ``POST /openapi/v2/image/upload`` (multipart ``image``) → ``{"img_id", "img_url"}``; 500032 for a
  file that is no PNG
- ``POST /openapi/v2/media/upload`` (multipart ``file``) → ``{"media_id", "media_type", "url"}``: audio
  (WAV or MP3, at most 30 s) or video (MP4); 400017 otherwise
- ``POST /openapi/v2/video/img/generate`` → ``{"video_id"}``; 500090 when no credits are left, 500044
  while ``busy`` (the account's generations-at-once limit), 500054 for a prompt with ``MARKER``
- ``POST /openapi/v2/video/fusion/generate`` → ``{"video_id"}``: 1-3 ``image_references`` of type
  ``subject`` or ``background`` with uploaded ``img_id``s and distinct ``ref_name``s, each named in the
  prompt as ``@ref_name`` followed by a space (and no other ``@name``), model v4.5 or later, duration
  5 or 8, a quality, an aspect ratio and a seed; 400017 otherwise; credits and busy as above
- ``POST /openapi/v2/video/lip_sync/generate`` → ``{"video_id"}``: either ``source_video_id`` (a
  finished generation) or ``video_media_id``, and either ``audio_media_id`` or
  ``lip_sync_tts_speaker_id`` + ``lip_sync_tts_content``; 400017 for a wrong combination, 500008 for
  an unknown or unfinished video; the result keeps the source's length
- ``GET /openapi/v2/video/result/{id}`` → ``{"id", "status", "url", "outputWidth", "outputHeight", ...}``:
  status 5 (generating) for ``polls_until_done`` polls (``lip_sync_polls_until_done`` for a lip
  sync), then 1 with ``url``, 8 when the prompt has ``FAIL_MARKER``, 7 (moderation after drawing) when
  it has ``REVIEW_MARKER``; an unknown id is ErrCode 500008. ``on_poll(video_id)`` is called first
- ``GET /openapi/v2/account/balance`` → ``{"account_id", "credit_monthly", "credit_package"}``
- a wrong key: ``key_refusal`` (PixVerse's table has no code for it; its troubleshooting page names the
  message ``Invalid API-KEY``, so the code here is this fake's choice); ``canned`` answers
  (e.g. HTTP 429) come first
- ``GET /results/{name}``: the MP4, no key; ``expire_downloads`` makes the next ones answer 403
"""

from __future__ import annotations

import asyncio
import io
import itertools
import re
import wave
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.asgi_thread import FakeServer
from tests.fakes.dashscope import encode_test_video

KEY = "pv-fake-5b2e"
MARKER = "FORBIDDEN"
FAIL_MARKER = "MELTDOWN"
REVIEW_MARKER = "GORE"  # passes the pre-check, refused once drawn (status 7)
QUALITIES = ("360p", "540p", "720p", "1080p")
ASPECT_RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16")
_VIDEO: dict[int, bytes] = {}


def answer(code: int = 0, message: str = "success", resp: dict | None = None) -> JSONResponse:
    return JSONResponse({"ErrCode": code, "ErrMsg": message, "Resp": resp or {}})


def invalid() -> JSONResponse:
    return answer(400017, "Invalid parameter")


@dataclass
class Canned:
    status: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Generation:
    kind: str  # "img", "fusion" or "lip_sync"
    prompt: str
    duration: int
    body: dict
    polls: int = 0
    status: int = 5


@dataclass
class Media:
    media_type: str  # "audio" or "video"
    content: bytes


class FakePixVerse(FakeServer):
    def __init__(self, ffmpeg: Path):
        self.ffmpeg = ffmpeg
        self.credits = 1000
        self.busy = 0  # generate answers 500044 this many more times
        self.polls_until_done = 2
        self.lip_sync_polls_until_done = 2
        self.expire_downloads = 0
        self.key_refusal = (10005, "Invalid API-KEY")
        self.on_poll: Callable[[int], None] | None = None
        self.canned: list[Canned] = []
        self.counts: Counter[str] = Counter()  # uploads, media_uploads, generations, fusions, lip_syncs, polls, downloads
        self.calls: list[str] = []  # the paths asked for, in order
        self.trace_ids: list[str] = []
        self.images: dict[int, bytes] = {}
        self.media: dict[int, Media] = {}
        self.generations: dict[int, Generation] = {}
        self.downloaded: list[int] = []  # the video ids whose results were fetched
        self._ids = itertools.count(10001)
        self.app = Starlette(
            routes=[
                Route("/openapi/v2/image/upload", self._upload, methods=["POST"]),
                Route("/openapi/v2/media/upload", self._media_upload, methods=["POST"]),
                Route("/openapi/v2/video/img/generate", self._generate, methods=["POST"]),
                Route("/openapi/v2/video/fusion/generate", self._fusion, methods=["POST"]),
                Route("/openapi/v2/video/lip_sync/generate", self._lip_sync, methods=["POST"]),
                Route("/openapi/v2/video/result/{video_id:int}", self._result, methods=["GET"]),
                Route("/openapi/v2/account/balance", self._balance, methods=["GET"]),
                Route("/results/{name}", self._download, methods=["GET"]),
            ]
        )

    def settings(self) -> dict:
        return {
            "pixverse_api_key": KEY, "pixverse_base_url": self.url, "pixverse_poll_interval_s": 0.01,
            "api_retry_attempts": 3, "api_retry_base_delay": 0.001, "api_retry_max_delay": 2.0,
        }  # fmt: skip

    def of_kind(self, kind: str) -> dict[int, Generation]:
        return {video_id: generation for video_id, generation in self.generations.items() if generation.kind == kind}

    def _refusal(self, request: Request) -> Response | None:
        self.trace_ids.append(request.headers.get("ai-trace-id", ""))
        self.calls.append(re.sub(r"/\d+$", "/{id}", request.url.path))
        if self.canned:
            canned = self.canned.pop(0)
            return JSONResponse(canned.body, status_code=canned.status, headers=canned.headers)
        if request.headers.get("api-key") != KEY:
            return answer(*self.key_refusal)
        return None

    def _cannot_start(self) -> Response | None:
        if self.credits <= 0:
            return answer(500090, "Insufficient balance. Unable to generate video. Please top up your credits.")
        if self.busy:
            self.busy -= 1
            return answer(500044, "Reached the limit for concurrent generations.")
        return None

    def _started(self, generation: Generation) -> Response:
        self.credits -= 10
        video_id = next(self._ids)
        self.generations[video_id] = generation
        return answer(resp={"video_id": video_id, "credit": 10})

    async def _upload(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        form = await request.form()
        image = form.get("image")
        content = await image.read() if image is not None else b""
        if not content.startswith(b"\x89PNG"):
            return answer(500032, "Invalid image format")
        self.counts["uploads"] += 1
        img_id = next(self._ids)
        self.images[img_id] = content
        return answer(resp={"img_id": img_id, "img_url": f"{self.url}/images/{img_id}.png"})

    async def _media_upload(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        form = await request.form()
        upload = form.get("file")
        content = await upload.read() if upload is not None else b""
        if content[:4] == b"RIFF" and content[8:12] == b"WAVE":
            with wave.open(io.BytesIO(content)) as audio:
                if audio.getnframes() / audio.getframerate() > 30:
                    return invalid()
            media_type = "audio"
        elif content[:3] == b"ID3":
            media_type = "audio"
        elif content[4:8] == b"ftyp":
            media_type = "video"
        else:
            return invalid()
        self.counts["media_uploads"] += 1
        media_id = next(self._ids)
        self.media[media_id] = Media(media_type, content)
        suffix = "wav" if media_type == "audio" else "mp4"
        return answer(resp={"media_id": media_id, "media_type": media_type, "url": f"{self.url}/media/{media_id}.{suffix}"})

    async def _generate(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        body = await request.json()
        if body.get("img_id") not in self.images or body.get("duration") not in (5, 8) or body.get("quality") not in QUALITIES:
            return invalid()
        refusal = self._cannot_start()
        if refusal is not None:
            return refusal
        if MARKER in body.get("prompt", ""):
            return answer(500054, "Content moderation failure. Image maybe contains inappropriate content.")
        self.counts["generations"] += 1
        return self._started(Generation("img", body["prompt"], body["duration"], body))

    async def _fusion(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        body = await request.json()
        if _fusion_problem(body, self.images):
            return invalid()
        refusal = self._cannot_start()
        if refusal is not None:
            return refusal
        self.counts["generations"] += 1
        self.counts["fusions"] += 1
        return self._started(Generation("fusion", body["prompt"], body["duration"], body))

    async def _lip_sync(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        body = await request.json()
        videos = [name for name in ("source_video_id", "video_media_id") if name in body]
        tts = "lip_sync_tts_speaker_id" in body and "lip_sync_tts_content" in body
        if len(videos) != 1 or ("audio_media_id" in body) == tts:
            return invalid()
        if "audio_media_id" in body and getattr(self.media.get(body["audio_media_id"]), "media_type", "") != "audio":
            return invalid()
        source = self.generations.get(body.get("source_video_id")) if videos == ["source_video_id"] else None
        if videos == ["source_video_id"] and (source is None or source.status != 1):
            return answer(500008, "Requested data not found")
        refusal = self._cannot_start()
        if refusal is not None:
            return refusal
        self.counts["lip_syncs"] += 1
        duration = source.duration if source is not None else 5
        return self._started(Generation("lip_sync", source.prompt if source is not None else "", duration, body))

    async def _result(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        video_id = request.path_params["video_id"]
        generation = self.generations.get(video_id)
        if generation is None:
            return answer(500008, "Requested data not found")
        if self.on_poll is not None:
            self.on_poll(video_id)
        self.counts["polls"] += 1
        generation.polls += 1
        wanted = self.lip_sync_polls_until_done if generation.kind == "lip_sync" else self.polls_until_done
        url = ""
        if generation.polls > wanted:
            generation.status = 8 if FAIL_MARKER in generation.prompt else 7 if REVIEW_MARKER in generation.prompt else 1
            url = f"{self.url}/results/{video_id}-{generation.polls}.mp4" if generation.status == 1 else ""
        resp = {"id": video_id, "status": generation.status, "url": url, "prompt": generation.prompt, "outputWidth": 320, "outputHeight": 180, "seed": 0, "size": 0}
        return answer(resp=resp)

    async def _balance(self, request: Request) -> Response:
        refusal = self._refusal(request)
        return refusal or answer(resp={"account_id": 42, "credit_monthly": self.credits, "credit_package": 0})

    async def _download(self, request: Request) -> Response:
        self.counts["downloads"] += 1
        if self.expire_downloads:
            self.expire_downloads -= 1
            return Response("<Error><Code>AccessDenied</Code></Error>", status_code=403, media_type="application/xml")
        video_id = int(request.path_params["name"].split("-")[0])
        self.downloaded.append(video_id)
        seconds = self.generations[video_id].duration
        if seconds not in _VIDEO:
            _VIDEO[seconds] = await asyncio.to_thread(encode_test_video, self.ffmpeg, (320, 180), seconds)
        return Response(_VIDEO[seconds], media_type="video/mp4")


def _fusion_problem(body: dict, images: dict[int, bytes]) -> str:
    """What PixVerse would refuse in a fusion request, or ""."""
    references = body.get("image_references")
    if not isinstance(references, list) or not 1 <= len(references) <= 3:
        return "image_references must hold 1 to 3 pictures"
    names = [reference.get("ref_name") for reference in references]
    if any(reference.get("type") not in ("subject", "background") or reference.get("img_id") not in images for reference in references):
        return "each reference needs a type (subject or background) and an uploaded img_id"
    if not all(isinstance(name, str) and name for name in names) or len(set(names)) != len(names):
        return "ref_names must be distinct"
    prompt = str(body.get("prompt", ""))
    if any(f"@{name} " not in prompt for name in names) or set(re.findall(r"@(\w+)", prompt)) - set(names):
        return "the prompt must name each reference as @ref_name followed by a space, and no other"
    version = re.fullmatch(r"v(\d+(?:\.\d+)?)", str(body.get("model", "")))
    if version is None or float(version.group(1)) < 4.5:
        return "fusion needs model v4.5 or later"
    if body.get("duration") not in (5, 8) or body.get("quality") not in QUALITIES or body.get("aspect_ratio") not in ASPECT_RATIOS:
        return "duration, quality or aspect_ratio"
    if not isinstance(body.get("seed"), int):
        return "seed is required"
    return ""
