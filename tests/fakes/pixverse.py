"""A fake PixVerse platform API, speaking its protocol.

Every request needs ``API-KEY`` (and carries an ``Ai-trace-id``); answers are ``{"ErrCode", "ErrMsg",
"Resp"}`` with HTTP 200, errors included, as the platform sends them:

- ``POST /openapi/v2/image/upload`` (multipart ``image``) → ``{"img_id", "img_url"}``
- ``POST /openapi/v2/video/img/generate`` → ``{"video_id"}``; ErrCode 500043 when no credits are left,
  500044 while ``busy`` (the account's generations-at-once limit), 500054 for a prompt with ``MARKER``
- ``GET /openapi/v2/video/result/{id}`` → ``{"id", "status", "url", "outputWidth", "outputHeight", ...}``:
  status 5 (generating) for ``polls_until_done`` polls, then 1 with ``url``, 8 when the prompt has
  ``FAIL_MARKER``, 7 (moderation after drawing) when it has ``REVIEW_MARKER``; an unknown id is ErrCode 500008
- ``GET /openapi/v2/account/balance`` → ``{"account_id", "credit_monthly", "credit_package"}``
- a wrong key: ErrCode 10005 "Invalid API-KEY"; ``canned`` answers (e.g. HTTP 429) come first
- ``GET /results/{name}``: the MP4, no key; ``expire_downloads`` makes the next ones answer 403
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

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
_VIDEO: dict[int, bytes] = {}


def answer(code: int = 0, message: str = "success", resp: dict | None = None) -> JSONResponse:
    return JSONResponse({"ErrCode": code, "ErrMsg": message, "Resp": resp or {}})


@dataclass
class Canned:
    status: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Generation:
    prompt: str
    duration: int
    polls: int = 0


class FakePixVerse(FakeServer):
    def __init__(self, ffmpeg: Path):
        self.ffmpeg = ffmpeg
        self.credits = 1000
        self.busy = 0  # generate answers 500044 this many more times
        self.polls_until_done = 2
        self.expire_downloads = 0
        self.canned: list[Canned] = []
        self.counts: Counter[str] = Counter()  # uploads, generations, polls, downloads
        self.trace_ids: list[str] = []
        self.generations: dict[int, Generation] = {}
        self._ids = itertools.count(10001)
        self.app = Starlette(
            routes=[
                Route("/openapi/v2/image/upload", self._upload, methods=["POST"]),
                Route("/openapi/v2/video/img/generate", self._generate, methods=["POST"]),
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

    def _refusal(self, request: Request) -> Response | None:
        self.trace_ids.append(request.headers.get("ai-trace-id", ""))
        if self.canned:
            canned = self.canned.pop(0)
            return JSONResponse(canned.body, status_code=canned.status, headers=canned.headers)
        if request.headers.get("api-key") != KEY:
            return answer(10005, "Invalid API-KEY")
        return None

    async def _upload(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        form = await request.form()
        image = form.get("image")
        if image is None or not (await image.read()).startswith(b"\x89PNG"):
            return answer(500032, "Invalid image format")
        self.counts["uploads"] += 1
        img_id = next(self._ids)
        return answer(resp={"img_id": img_id, "img_url": f"{self.url}/images/{img_id}.png"})

    async def _generate(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        body = await request.json()
        if not isinstance(body.get("img_id"), int) or body.get("duration") not in (5, 8) or body.get("quality") not in ("360p", "540p", "720p", "1080p"):
            return answer(400017, "Invalid parameter")
        if self.credits <= 0:
            return answer(500043, "All Credits have been used up. Please purchase credits")
        if self.busy:
            self.busy -= 1
            return answer(500044, "Reached the limit for concurrent generations.")
        if MARKER in body.get("prompt", ""):
            return answer(500054, "Content moderation failure. Image maybe contains inappropriate content.")
        self.counts["generations"] += 1
        self.credits -= 10
        video_id = next(self._ids)
        self.generations[video_id] = Generation(body["prompt"], body["duration"])
        return answer(resp={"video_id": video_id, "credit": 10})

    async def _result(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        video_id = request.path_params["video_id"]
        generation = self.generations.get(video_id)
        if generation is None:
            return answer(500008, "Requested data not found")
        self.counts["polls"] += 1
        generation.polls += 1
        status, url = 5, ""
        if generation.polls > self.polls_until_done:
            status = 8 if FAIL_MARKER in generation.prompt else 7 if REVIEW_MARKER in generation.prompt else 1
            url = f"{self.url}/results/{video_id}-{generation.polls}.mp4" if status == 1 else ""
        resp = {"id": video_id, "status": status, "url": url, "prompt": generation.prompt, "outputWidth": 320, "outputHeight": 180, "seed": 0, "size": 0}
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
        seconds = self.generations[video_id].duration
        if seconds not in _VIDEO:
            _VIDEO[seconds] = await asyncio.to_thread(encode_test_video, self.ffmpeg, (320, 180), seconds)
        return Response(_VIDEO[seconds], media_type="video/mp4")
