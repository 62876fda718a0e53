"""Clips from PixVerse's platform API (VIDEO_BACKEND=pixverse), in either mode.

Every request carries ``API-KEY`` and a fresh ``Ai-trace-id``; every answer is
``{"ErrCode", "ErrMsg", "Resp"}``, ErrCode 0 meaning success (errors may come with HTTP 200). A clip is
three steps: upload the keyframe (``POST /openapi/v2/image/upload``, multipart ``image`` → ``img_id``),
start an image-to-video generation (``POST /openapi/v2/video/img/generate`` → ``video_id``), and poll
``GET /openapi/v2/video/result/{video_id}`` until its ``status`` is 1 (done: ``url``), 7 (refused by
moderation) or 8 (failed); 5 means still generating. The ``video_id`` is noted in the job ledger before
it is awaited, so a takeover polls it instead of paying again. docs/configuration.md describes it all.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
from loguru import logger

from app_api.dashscope.errors import ContentRejected
from app_api.dashscope.video import clip_prompt
from story2video.config import Settings
from story2video.errors import BackendError, BackendTimeout, BackendUnavailable, InvalidArtifact
from story2video.media.ffmpeg import locate_ffmpeg
from story2video.media.probe import aprobe
from story2video.providers.base import BackendStatus, ClipFile, ClipRequest, StageContext
from story2video.providers.retry import RetryPolicy, Service, request_with_retries

BACKEND = "pixverse"
SERVICE = Service(BACKEND, "PIXVERSE_REQUEST_TIMEOUT_S", "PIXVERSE_BASE_URL")
VIDEO_JOB = "pixverse-video"  # the generation's name in the clip's job ledger
DONE, GENERATING, MODERATED, FAILED = 1, 5, 7, 8
CREDITS_USED_UP, CONCURRENCY_LIMIT, MODERATION = 500043, 500044, 500054
_KEY_WORDS = ("api key", "api-key", "apikey")


class PixVerseClient:
    """The HTTP side: headers, retries, and ErrCode answers turned into errors that say what to do."""

    def __init__(self, settings: Settings, retry: RetryPolicy | None = None):
        self.base_url = settings.pixverse_base_url.rstrip("/")
        self.timeout = settings.pixverse_request_timeout_s
        self.retry = retry or RetryPolicy.from_settings(settings)
        self._key = settings.pixverse_api_key

    async def call(self, method: str, path: str, **kwargs) -> dict:
        """``Resp`` of a successful answer; ``PixVerseError`` for a nonzero ErrCode."""
        response = await self._request(method, f"{self.base_url}{path}", headers={"API-KEY": self._key, "Ai-trace-id": str(uuid.uuid4())}, **kwargs)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or "ErrCode" not in answer:
            if response.status_code in (401, 403):
                raise key_rejected(response.status_code, response.text[:200])
            raise BackendError(f"PixVerse {path} answered {response.status_code} without its usual body: {response.text[:200]!r}", backend=BACKEND)
        code, message = int(answer.get("ErrCode") or 0), str(answer.get("ErrMsg") or "")
        if code != 0 or response.status_code >= 400:
            raise PixVerseError(code, message, response.status_code)
        resp = answer.get("Resp")
        return resp if isinstance(resp, dict) else {}

    async def download(self, url: str) -> httpx.Response:
        return await self._request("GET", url)

    async def _request(self, method: str, url: str, **kwargs) -> httpx.Response:
        return await request_with_retries(SERVICE, method, url, self.retry, self.timeout, **kwargs)


class PixVerseError(BackendError):
    """A nonzero ErrCode: ``described`` turns it into the error a user can act on."""

    def __init__(self, code: int, message: str, status: int):
        super().__init__(f"PixVerse answered ErrCode {code}: {message}", backend=BACKEND)
        self.err_code, self.err_message, self.status = code, message, status

    def described(self) -> BackendError:
        code, message = self.err_code, self.err_message
        if self.status in (401, 403) or any(word in message.lower() for word in _KEY_WORDS):
            return key_rejected(code, message)
        if code == CREDITS_USED_UP or "credit" in message.lower():
            return BackendUnavailable(f"PixVerse credits are used up ({code}: {message}): buy credits or a plan on platform.pixverse.ai", backend=BACKEND)
        if code == MODERATION:
            return ContentRejected(f"PixVerse moderation refused the keyframe or prompt ({code}: {message}); reword the shot or draw it again", backend=BACKEND)
        return BackendError(f"PixVerse refused the clip ({code}: {message})", backend=BACKEND)


def key_rejected(code: object, message: str) -> BackendUnavailable:
    return BackendUnavailable(f"PIXVERSE_API_KEY was rejected ({code}: {message}): set a key from platform.pixverse.ai", backend=BACKEND)


class PixVerseVideoGenerator:
    backend = BACKEND

    def __init__(self, settings: Settings, client: PixVerseClient | None = None):
        self.client = client or PixVerseClient(settings)
        self.settings = settings
        self.model = settings.pixverse_model
        self.ffmpeg = locate_ffmpeg(settings.ffmpeg_binary)
        self._slots = asyncio.Semaphore(settings.pixverse_concurrency)  # per key, across operations

    async def animate(self, request: ClipRequest, dest: Path, ctx: StageContext) -> ClipFile:
        async with self._slots:
            try:
                url = await self._generated(request, ctx)
                await self._fetch(url, dest, ctx)
            except PixVerseError as error:
                raise error.described() from None
        info = await aprobe(self.ffmpeg, dest)
        if info.video is None or info.duration <= 0:
            raise InvalidArtifact("PixVerse returned a file without a playable video stream", backend=BACKEND)
        ctx.progress(1.0)
        return ClipFile(path=dest, duration=info.duration)

    async def _generated(self, request: ClipRequest, ctx: StageContext) -> str:
        noted = ctx.jobs.recall(VIDEO_JOB)
        if noted is not None:
            logger.info("PixVerse generation {} was started before; polling it instead of starting again", noted)
            return await self._finished(int(noted), ctx)
        ctx.raise_if_cancelled()
        image = await asyncio.to_thread(request.keyframe.read_bytes)
        uploaded = await self.client.call("POST", "/openapi/v2/image/upload", files={"image": ("keyframe.png", image, "image/png")})
        body = {
            "img_id": uploaded.get("img_id"), "prompt": clip_prompt(request), "model": self.model,
            "duration": self.settings.pixverse_duration, "quality": self.settings.pixverse_quality,
            "motion_mode": self.settings.pixverse_motion_mode, "seed": request.seed % 2**31, "water_mark": False,
        }  # fmt: skip
        if self.settings.pixverse_negative_prompt:
            body["negative_prompt"] = self.settings.pixverse_negative_prompt
        started = await self._start(body, ctx)
        ctx.jobs.remember(VIDEO_JOB, str(started))
        return await self._finished(started, ctx)

    async def _start(self, body: dict, ctx: StageContext) -> int:
        """The generation's id; while the account runs its most generations at once, wait and ask again."""
        deadline = time.monotonic() + self.settings.pixverse_task_timeout_s
        while True:
            try:
                answer = await self.client.call("POST", "/openapi/v2/video/img/generate", json=body)
                break
            except PixVerseError as error:
                if error.err_code != CONCURRENCY_LIMIT or time.monotonic() > deadline:
                    raise
                logger.info("PixVerse is at this account's limit of generations at once; asking again in {:g} s", self.settings.pixverse_poll_interval_s)
                await self._wait(ctx)
        video_id = answer.get("video_id")
        if not isinstance(video_id, int):
            raise InvalidArtifact(f"PixVerse started a generation without a video_id: {str(answer)[:200]}", backend=BACKEND)
        logger.info("PixVerse generation {} started ({}, {}, {} s)", video_id, self.model, body["quality"], body["duration"])
        return video_id

    async def _finished(self, video_id: int, ctx: StageContext) -> str:
        """Poll until the generation ends; its result URL (the ledger forgets a generation that failed)."""
        deadline = time.monotonic() + self.settings.pixverse_task_timeout_s
        while True:
            ctx.raise_if_cancelled()
            result = await self.client.call("GET", f"/openapi/v2/video/result/{video_id}")
            status = result.get("status")
            if status == DONE and result.get("url"):
                return str(result["url"])
            if status in (MODERATED, FAILED):
                ctx.jobs.forget(VIDEO_JOB)
                if status == MODERATED:
                    raise ContentRejected(f"PixVerse moderation refused generation {video_id} (status 7); reword the shot or draw it again", backend=BACKEND)
                raise BackendError(f"PixVerse generation {video_id} failed (status 8): {str(result)[:200]}", backend=BACKEND)
            if time.monotonic() > deadline:
                raise BackendTimeout(
                    f"PixVerse generation {video_id} was still status {status} after {self.settings.pixverse_task_timeout_s:g} s (PIXVERSE_TASK_TIMEOUT_S)",
                    backend=BACKEND,
                )
            ctx.progress(0.5)
            await self._wait(ctx)

    async def _fetch(self, url: str, dest: Path, ctx: StageContext) -> None:
        """The result, downloaded at once; a link that expired meanwhile is asked for again, once."""
        response = await self.client.download(url)
        if response.status_code in (403, 404) and ctx.jobs.recall(VIDEO_JOB) is not None:
            logger.warning("the PixVerse result link answered {}; asking for a fresh one", response.status_code)
            fresh = await self._finished(int(ctx.jobs.recall(VIDEO_JOB)), ctx)
            response = await self.client.download(fresh)
        if not response.is_success:
            raise BackendError(f"the PixVerse result could not be downloaded ({response.status_code})", backend=BACKEND)
        await asyncio.to_thread(dest.write_bytes, response.content)
        ctx.jobs.forget(VIDEO_JOB)

    async def _wait(self, ctx: StageContext) -> None:
        await asyncio.sleep(self.settings.pixverse_poll_interval_s)
        ctx.raise_if_cancelled()

    async def status(self) -> BackendStatus:
        """Whether the key works and the credits left (``GET /openapi/v2/account/balance``): nothing is spent."""

        def result(ready: bool, detail: str) -> BackendStatus:
            return BackendStatus("clips", BACKEND, self.model, ready, detail, self.client.base_url)

        try:
            balance = await self.client.call("GET", "/openapi/v2/account/balance")
        except PixVerseError as error:
            return result(False, error.described().message)
        except BackendError as error:
            return result(False, error.message)
        monthly, package = int(balance.get("credit_monthly") or 0), int(balance.get("credit_package") or 0)
        left = monthly + package
        if left <= 0:
            return result(False, "key accepted, but no credits are left: buy credits or a plan on platform.pixverse.ai")
        return result(True, f"key accepted; {left} credits left ({monthly} monthly, {package} from packages)")
