"""Clips from Wan image-to-video as asynchronous tasks; the keyframe goes as a data URI, or as a
presigned OSS URL when OSS is configured (smaller requests, no size limit on the inline image)."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from app_api.dashscope.chat import PromptSoftener
from app_api.dashscope.errors import BACKEND, Endpoint
from app_api.dashscope.http import DashScopeClient
from app_api.dashscope.probe import DashScopeProbe
from app_api.dashscope.recovery import resubmitted_if_expired, with_softened_retry
from app_api.dashscope.sizes import video_duration, video_resolution
from app_api.dashscope.tasks import TaskRunner, TaskSpec
from story2video.errors import InvalidArtifact
from story2video.media.probe import aprobe
from story2video.providers.base import BackendStatus, ClipFile, ClipRequest, StageContext

VIDEO_PATH = "/api/v1/services/aigc/video-generation/video-synthesis"
VIDEO_JOB = "dashscope-video-synthesis"  # the task's name in the stage's job ledger


class KeyframeLinks(Protocol):
    async def link(self, keyframe: Path) -> str:
        """A reference DashScope can fetch the keyframe PNG from."""
        ...


class DataUriLinks:
    async def link(self, keyframe: Path) -> str:
        data = await asyncio.to_thread(keyframe.read_bytes)
        return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


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
        options: VideoOptions,
        links: KeyframeLinks,
        softener: PromptSoftener,
        ffmpeg: Path,
        slots: asyncio.Semaphore,
        probe: DashScopeProbe,
    ):
        self.client, self.tasks, self.endpoint, self.options, self.links = client, tasks, endpoint, options, links
        self.softener, self.ffmpeg, self._slots, self.probe = softener, ffmpeg, slots, probe
        self.model = endpoint.model

    async def animate(self, request: ClipRequest, dest: Path, ctx: StageContext) -> ClipFile:
        image = await self.links.link(request.keyframe)

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
            "resolution": self.options.resolution or video_resolution(self.model, request.width, request.height),
            "duration": video_duration(self.model, request.duration),
            "prompt_extend": self.options.prompt_extend,
            "watermark": self.options.watermark,
            "seed": request.seed % 2**31,
        }
        return {"model": self.model, "input": body_input, "parameters": parameters}
