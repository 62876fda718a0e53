"""Clips from Wan image-to-video as asynchronous tasks; the keyframe goes as a data URI, or as a
presigned OSS URL when OSS is configured (smaller requests, no size limit on the inline image)."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PIL import Image

from app_api.dashscope.catalog import VideoModel
from app_api.dashscope.chat import PromptSoftener
from app_api.dashscope.errors import BACKEND, Endpoint
from app_api.dashscope.http import DashScopeClient
from app_api.dashscope.probe import DashScopeProbe
from app_api.dashscope.recovery import resubmitted_if_expired, with_softened_retry
from app_api.dashscope.sizes import video_duration, video_resolution
from app_api.dashscope.tasks import TaskRunner, TaskSpec
from story2video.errors import InvalidArtifact, InvalidRequest
from story2video.media.probe import aprobe
from story2video.providers.base import BackendStatus, ClipFile, ClipRequest, StageContext
from story2video.util.workdirs import work_folder

VIDEO_PATH = "/api/v1/services/aigc/video-generation/video-synthesis"
VIDEO_JOB = "dashscope-video-synthesis"  # the task's name in the stage's job ledger
WAN_MIN_SIDE, WAN_MAX_SIDE, WAN_MAX_BYTES = 360, 2000, 10 * 2**20  # what Wan image-to-video takes as input


class KeyframeLinks(Protocol):
    async def link(self, keyframe: Path) -> str:
        """A reference DashScope can fetch the keyframe PNG from."""
        ...


class DataUriLinks:
    async def link(self, keyframe: Path) -> str:
        data = await asyncio.to_thread(keyframe.read_bytes)
        kind = "jpeg" if keyframe.suffix.lower() in (".jpg", ".jpeg") else "png"
        return f"data:image/{kind};base64," + base64.b64encode(data).decode("ascii")


def wan_input_picture(keyframe: Path, scratch: Path) -> Path:
    """The keyframe as Wan takes it: each side within 360..2000 px and at most 10 MB. A keyframe inside
    the limits goes as it is; another is scaled (keeping its shape) into ``scratch`` (.png, or .jpg when
    a PNG would be too large). The clip comes back at the model's own size and is fitted when composed."""
    with Image.open(keyframe) as picture:
        width, height = picture.size
        scale = 1.0
        if min(width, height) < WAN_MIN_SIDE:
            scale = WAN_MIN_SIDE / min(width, height)
        if max(width, height) * scale > WAN_MAX_SIDE:
            scale = WAN_MAX_SIDE / max(width, height)
        if min(width, height) * scale < WAN_MIN_SIDE - 0.5:
            raise InvalidRequest(
                f"a {width}x{height} frame is too narrow for Wan image-to-video (sides of 360 to 2000 px); choose another aspect_ratio",
                param="aspect_ratio",
            )
        if scale == 1.0 and keyframe.stat().st_size <= WAN_MAX_BYTES:
            return keyframe
        size = (max(WAN_MIN_SIDE, round(width * scale)), max(WAN_MIN_SIDE, round(height * scale)))
        resized = picture.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    dest = scratch.with_name(f"{scratch.name}{size[0]}x{size[1]}.png")
    resized.save(dest, format="PNG")
    if dest.stat().st_size > WAN_MAX_BYTES:
        dest.unlink()
        dest = dest.with_suffix(".jpg")
        resized.save(dest, format="JPEG", quality=90)
    return dest


@dataclass(frozen=True)
class VideoOptions:
    resolution: str  # "" = chosen from the render size
    prompt_extend: bool
    watermark: bool
    negative_prompt: str


def clip_prompt(request: ClipRequest) -> str:
    return f"{request.prompt}\nCamera: {request.camera}" if request.camera else request.prompt


class DashScopeVideoGenerator:
    backend = BACKEND

    def __init__(
        self,
        client: DashScopeClient,
        tasks: TaskRunner,
        endpoint: Endpoint,
        model: VideoModel,
        options: VideoOptions,
        links: KeyframeLinks,
        softener: PromptSoftener,
        ffmpeg: Path,
        slots: asyncio.Semaphore,
        probe: DashScopeProbe,
    ):
        self.client, self.tasks, self.endpoint, self.options, self.links = client, tasks, endpoint, options, links
        self.softener, self.ffmpeg, self._slots, self.probe = softener, ffmpeg, slots, probe
        self.model, self.entry = endpoint.model, model

    async def animate(self, request: ClipRequest, dest: Path, ctx: StageContext) -> ClipFile:
        with work_folder("wan-input-") as folder:
            # Named after the keyframe (its folder too), so that a published copy keeps a stable name.
            scratch = folder / request.keyframe.parent.name / f"{request.keyframe.stem}.wan"
            scratch.parent.mkdir()
            picture = await asyncio.to_thread(wan_input_picture, request.keyframe, scratch)
            image = await self.links.link(picture)

        async def attempt(prompt: str) -> bytes:
            return await resubmitted_if_expired(lambda: self._animate(prompt, image, request, ctx), "video")

        async with self._slots:
            data = await with_softened_retry(clip_prompt(request), attempt, self.softener, "video")
        await asyncio.to_thread(dest.write_bytes, data)
        info = await aprobe(self.ffmpeg, dest)
        if info.video is None or info.duration <= 0:
            raise InvalidArtifact("DashScope image-to-video returned a file without a playable video stream", backend=BACKEND)
        ctx.progress(1.0)
        return ClipFile(path=dest, duration=info.duration)

    async def status(self) -> BackendStatus:
        return await self.probe.status("clips", self.model)

    async def _animate(self, prompt: str, image: str, request: ClipRequest, ctx: StageContext) -> bytes:
        async def fetch(output: dict) -> bytes:
            url = output.get("video_url")
            if not isinstance(url, str) or not url:
                raise InvalidArtifact(f"DashScope image-to-video succeeded without a video_url: {str(output)[:200]}", backend=BACKEND)
            return await self.client.download(url, self.endpoint)

        spec = TaskSpec(VIDEO_PATH, self._body(prompt, image, request), self.endpoint, VIDEO_JOB)
        return await self.tasks.run(spec, ctx, fetch)

    def _body(self, prompt: str, image: str, request: ClipRequest) -> dict:
        body_input = {"prompt": prompt, "img_url": image}
        if self.options.negative_prompt:
            body_input["negative_prompt"] = self.options.negative_prompt
        parameters = {
            "resolution": self.options.resolution or video_resolution(self.entry, request.width, request.height),
            "duration": video_duration(self.entry, request.duration),
            "prompt_extend": self.options.prompt_extend,
            "watermark": self.options.watermark,
            "seed": request.seed % 2**31,
        }
        if self.entry.makes_sound:
            parameters["audio"] = False  # the clip's sound is dropped in composition: do not pay for it
        return {"model": self.model, "input": body_input, "parameters": parameters}

