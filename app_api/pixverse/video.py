"""Clips from PixVerse (VIDEO_BACKEND=pixverse): a generation, optionally lip-synced, polled and fetched.

A plain clip uploads the keyframe (``POST /openapi/v2/image/upload`` → ``img_id``) and starts an
image-to-video generation (``POST /openapi/v2/video/img/generate`` → ``video_id``). With
PIXVERSE_FUSION and characters in the shot, their portraits are uploaded too and a reference-to-video
generation starts instead (``POST /openapi/v2/video/fusion/generate``, see ``fusion``). Either is polled
at ``GET /openapi/v2/video/result/{video_id}`` until its ``status`` is 1 (done: ``url``), 7 (refused by
moderation) or 8 (failed); 5 means still generating.

With PIXVERSE_LIP_SYNC and on-screen speakers (``ClipRequest.speech``), the finished generation is
lip-synced: the speech, cut to the clip's length, is uploaded (``POST /openapi/v2/media/upload`` →
``media_id``) and ``POST /openapi/v2/video/lip_sync/generate`` with ``source_video_id`` and
``audio_media_id`` starts a job polled like a generation; its result is the clip.

Every id is noted in the clip's job ledger before it is awaited, so a worker that takes over polls it
instead of paying again. docs/configuration.md describes it all.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from loguru import logger

from app_api.dashscope.errors import ContentRejected
from app_api.dashscope.video import clip_prompt
from app_api.pixverse.client import BACKEND, CONCURRENCY_LIMIT, PixVerseClient, PixVerseError
from app_api.pixverse.fusion import SCENE, aspect_ratio, fusion_prompt, ref_names, subjects
from story2video.config import Settings
from story2video.errors import BackendError, BackendTimeout, InvalidArtifact
from story2video.media.ffmpeg import locate_ffmpeg
from story2video.media.probe import aprobe
from story2video.media.wav import first_seconds, mono_wav_bytes, read_mono_wav
from story2video.providers.base import BackendStatus, ClipFile, ClipRequest, StageContext

VIDEO_JOB = "pixverse-video"  # the generation's name in the clip's job ledger
LIP_SYNC_JOB = "pixverse-lip-sync"  # the lip-sync job's
DONE, GENERATING, MODERATED, FAILED = 1, 5, 7, 8
_WHAT = {VIDEO_JOB: "generation", LIP_SYNC_JOB: "lip sync"}


class PixVerseVideoGenerator:
    backend = BACKEND

    def __init__(self, settings: Settings, client: PixVerseClient | None = None):
        self.client = client or PixVerseClient(settings)
        self.settings = settings
        self.model = settings.pixverse_model
        self.takes_references = settings.pixverse_fusion
        self.takes_speech = settings.pixverse_lip_sync
        self.ffmpeg = locate_ffmpeg(settings.ffmpeg_binary)
        self._slots = asyncio.Semaphore(settings.pixverse_concurrency)  # per key, across operations

    async def animate(self, request: ClipRequest, dest: Path, ctx: StageContext) -> ClipFile:
        async with self._slots:
            try:
                job, url = await self._made(request, ctx)
                await self._fetch(job, url, dest, ctx)
            except PixVerseError as error:
                raise error.described() from None
        info = await aprobe(self.ffmpeg, dest)
        if info.video is None or info.duration <= 0:
            raise InvalidArtifact("PixVerse returned a file without a playable video stream", backend=BACKEND)
        ctx.progress(1.0)
        return ClipFile(path=dest, duration=info.duration, lip_synced=job == LIP_SYNC_JOB)

    async def _made(self, request: ClipRequest, ctx: StageContext) -> tuple[str, str]:
        """The job whose result is the clip (the generation, or its lip sync) and the result's URL."""
        noted = ctx.jobs.recall(LIP_SYNC_JOB)
        if noted is not None:
            logger.info("PixVerse lip sync {} was started before; polling it instead of starting again", noted)
            return LIP_SYNC_JOB, await self._finished(int(noted), LIP_SYNC_JOB, ctx)
        url = await self._generated(request, ctx)
        speech = await self._speech(request)
        if speech is None:
            return VIDEO_JOB, url
        return LIP_SYNC_JOB, await self._lip_synced(int(ctx.jobs.recall(VIDEO_JOB)), speech, ctx)

    async def _generated(self, request: ClipRequest, ctx: StageContext) -> str:
        noted = ctx.jobs.recall(VIDEO_JOB)
        if noted is not None:
            logger.info("PixVerse generation {} was started before; polling it instead of starting again", noted)
            return await self._finished(int(noted), VIDEO_JOB, ctx)
        ctx.raise_if_cancelled()
        keyframe = await self._upload_image(request.keyframe, "keyframe.png")
        if self.settings.pixverse_fusion and request.references:
            path, body = "/openapi/v2/video/fusion/generate", await self._fusion_body(request, keyframe)
        else:
            path, body = "/openapi/v2/video/img/generate", self._image_body(request, keyframe)
        started = await self._start(path, body, ctx)
        ctx.jobs.remember(VIDEO_JOB, str(started))
        return await self._finished(started, VIDEO_JOB, ctx)

    def _image_body(self, request: ClipRequest, img_id: int) -> dict:
        body = {
            "img_id": img_id, "prompt": clip_prompt(request), "model": self.model,
            "duration": self.settings.pixverse_duration, "quality": self.settings.pixverse_quality,
            "motion_mode": self.settings.pixverse_motion_mode, "seed": request.seed % 2**31, "water_mark": False,
        }  # fmt: skip
        if self.settings.pixverse_negative_prompt:
            body["negative_prompt"] = self.settings.pixverse_negative_prompt
        return body

    async def _fusion_body(self, request: ClipRequest, keyframe: int) -> dict:
        """The characters' portraits as subjects and the keyframe as the scene (fusion takes no other options)."""
        shown = subjects(request)
        if len(request.references) > len(shown):
            left = ", ".join(reference.name for reference in request.references[len(shown) :])
            logger.info("PixVerse fusion takes {} characters beside the scene; {} stay in the words only", len(shown), left)
        names = ref_names(shown)
        references = [
            {"type": "subject", "img_id": await self._upload_image(reference.picture, f"{name}.png"), "ref_name": name}
            for name, reference in zip(names, shown)
        ]
        references.append({"type": "background", "img_id": keyframe, "ref_name": SCENE})
        return {
            "image_references": references, "prompt": fusion_prompt(request, names), "model": self.model,
            "duration": self.settings.pixverse_duration, "quality": self.settings.pixverse_quality,
            "aspect_ratio": aspect_ratio(request.width, request.height), "seed": request.seed % 2**31,
        }  # fmt: skip

    async def _upload_image(self, path: Path, name: str) -> int:
        content = await asyncio.to_thread(path.read_bytes)
        uploaded = await self.client.upload("/openapi/v2/image/upload", "image", name, content, "image/png")
        img_id = uploaded.get("img_id")
        if not isinstance(img_id, int):
            raise InvalidArtifact(f"PixVerse took an image without giving its img_id: {str(uploaded)[:200]}", backend=BACKEND)
        return img_id

    async def _speech(self, request: ClipRequest) -> bytes | None:
        """The on-screen speech cut to the clip's length as WAV bytes; None when there is none to sync to
        (lip sync off, no one on screen speaks, or they speak only after the clip ends)."""
        if not self.settings.pixverse_lip_sync or request.speech is None:
            return None

        def cut() -> bytes | None:
            pcm, rate = read_mono_wav(request.speech)
            heard = first_seconds(pcm, rate, self.settings.pixverse_duration)
            return mono_wav_bytes(heard, rate) if heard.strip(b"\x00") else None

        speech = await asyncio.to_thread(cut)
        if speech is None:
            logger.info("the on-screen lines begin after the clip's {} s: the clip is not lip-synced", self.settings.pixverse_duration)
        return speech

    async def _lip_synced(self, video_id: int, speech: bytes, ctx: StageContext) -> str:
        ctx.raise_if_cancelled()
        uploaded = await self.client.upload("/openapi/v2/media/upload", "file", "speech.wav", speech, "audio/wav")
        media_id = uploaded.get("media_id")
        if not isinstance(media_id, int):
            raise InvalidArtifact(f"PixVerse took the speech without giving its media_id: {str(uploaded)[:200]}", backend=BACKEND)
        started = await self._start("/openapi/v2/video/lip_sync/generate", {"source_video_id": video_id, "audio_media_id": media_id}, ctx)
        ctx.jobs.remember(LIP_SYNC_JOB, str(started))
        return await self._finished(started, LIP_SYNC_JOB, ctx)

    async def _start(self, path: str, body: dict, ctx: StageContext) -> int:
        """The new job's ``video_id``; while the account runs its most generations at once, wait and ask again."""
        deadline = time.monotonic() + self.settings.pixverse_task_timeout_s
        while True:
            try:
                answer = await self.client.call("POST", path, json=body)
                break
            except PixVerseError as error:
                if error.err_code != CONCURRENCY_LIMIT or time.monotonic() > deadline:
                    raise
                logger.info("PixVerse is at this account's limit of generations at once; asking again in {:g} s", self.settings.pixverse_poll_interval_s)
                await self._wait(ctx)
        video_id = answer.get("video_id")
        if not isinstance(video_id, int):
            raise InvalidArtifact(f"PixVerse started a job without a video_id: {str(answer)[:200]}", backend=BACKEND)
        logger.info("PixVerse {} {} started ({}, {}, {} s)", path.split("/")[-2], video_id, self.model, self.settings.pixverse_quality, self.settings.pixverse_duration)
        return video_id

    async def _finished(self, video_id: int, job: str, ctx: StageContext) -> str:
        """Poll until the job ends; its result URL (the ledger forgets a job that failed)."""
        what = _WHAT[job]
        deadline = time.monotonic() + self.settings.pixverse_task_timeout_s
        while True:
            ctx.raise_if_cancelled()
            result = await self.client.call("GET", f"/openapi/v2/video/result/{video_id}")
            status = result.get("status")
            if status == DONE and result.get("url"):
                return str(result["url"])
            if status in (MODERATED, FAILED):
                ctx.jobs.forget(job)
                if status == MODERATED:
                    raise ContentRejected(f"PixVerse moderation refused {what} {video_id} (status 7); reword the shot or draw it again", backend=BACKEND)
                raise BackendError(f"PixVerse {what} {video_id} failed (status 8): {str(result)[:200]}", backend=BACKEND)
            if time.monotonic() > deadline:
                raise BackendTimeout(
                    f"PixVerse {what} {video_id} was still status {status} after {self.settings.pixverse_task_timeout_s:g} s (PIXVERSE_TASK_TIMEOUT_S)",
                    backend=BACKEND,
                )
            ctx.progress(0.5)
            await self._wait(ctx)

    async def _fetch(self, job: str, url: str, dest: Path, ctx: StageContext) -> None:
        """The result, downloaded at once; a link that expired meanwhile is asked for again, once."""
        response = await self.client.download(url)
        noted = ctx.jobs.recall(job)
        if response.status_code in (403, 404) and noted is not None:
            logger.warning("the PixVerse result link answered {}; asking for a fresh one", response.status_code)
            response = await self.client.download(await self._finished(int(noted), job, ctx))
        if not response.is_success:
            raise BackendError(f"the PixVerse result could not be downloaded ({response.status_code})", backend=BACKEND)
        await asyncio.to_thread(dest.write_bytes, response.content)
        ctx.jobs.forget(LIP_SYNC_JOB)
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
