"""Keyframes from DashScope image synthesis (Qwen-Image / Wan text-to-image) as asynchronous tasks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from app_api.dashscope.chat import PromptSoftener
from app_api.dashscope.errors import BACKEND, ContentRejected, Endpoint, is_moderation
from app_api.dashscope.http import DashScopeClient
from app_api.dashscope.probe import DashScopeProbe
from app_api.dashscope.recovery import resubmitted_if_expired, with_softened_retry
from app_api.dashscope.sizes import image_size, size_text
from app_api.dashscope.tasks import TaskRunner, TaskSpec
from story2video.errors import InvalidArtifact
from story2video.media.pictures import write_cover_png
from story2video.providers.base import BackendStatus, ImageRequest, ImageResult, StageContext
from story2video.providers.picture_prompt import picture_prompt

IMAGE_PATH = "/api/v1/services/aigc/text2image/image-synthesis"
IMAGE_JOB = "dashscope-image-synthesis"  # the task's name in the stage's job ledger


@dataclass(frozen=True)
class ImageOptions:
    prompt_extend: bool
    watermark: bool
    negative_prompt: str


@dataclass(frozen=True)
class Drawn:
    data: bytes
    actual_prompt: str


class DashScopeImageGenerator:
    backend = BACKEND

    def __init__(
        self,
        client: DashScopeClient,
        tasks: TaskRunner,
        endpoint: Endpoint,
        options: ImageOptions,
        softener: PromptSoftener,
        slots: asyncio.Semaphore,
        probe: DashScopeProbe,
    ):
        self.client, self.tasks, self.endpoint, self.options = client, tasks, endpoint, options
        self.softener, self._slots, self.probe = softener, slots, probe
        self.model = endpoint.model

    async def generate(self, request: ImageRequest, dest: Path, ctx: StageContext) -> ImageResult:
        size = image_size(self.model, request.width, request.height)
        worded = picture_prompt(request, self.options.negative_prompt)

        async def attempt(prompt: str) -> Drawn:
            return await resubmitted_if_expired(lambda: self._draw(prompt, worded.negative, size, request, ctx), "image")

        async with self._slots:
            drawn = await with_softened_retry(worded.text, attempt, self.softener, "image")
        await asyncio.to_thread(write_cover_png, drawn.data, dest, request.width, request.height, _unreadable)
        ctx.progress(1.0)
        return ImageResult(actual_prompt=drawn.actual_prompt)

    async def status(self) -> BackendStatus:
        return await self.probe.status("keyframes", self.model)

    async def _draw(self, prompt: str, negative: str, size: tuple[int, int], request: ImageRequest, ctx: StageContext) -> Drawn:
        async def fetch(output: dict) -> Drawn:
            result = first_result(output, self.endpoint)
            data = await self.client.download(result["url"], self.endpoint)
            return Drawn(data, str(result.get("actual_prompt") or prompt))

        spec = TaskSpec(IMAGE_PATH, self._body(prompt, negative, size, request), self.endpoint, IMAGE_JOB)
        return await self.tasks.run(spec, ctx, fetch)

    def _body(self, prompt: str, negative: str, size: tuple[int, int], request: ImageRequest) -> dict:
        body_input = {"prompt": prompt, **({"negative_prompt": negative} if negative else {})}
        parameters = {
            "size": size_text(size),
            "n": 1,
            "seed": request.seed % 2**31,
            "prompt_extend": self.options.prompt_extend,
            "watermark": self.options.watermark,
        }
        return {"model": self.model, "input": body_input, "parameters": parameters}


def first_result(output: dict, endpoint: Endpoint) -> dict:
    """The task's first image, or the reason it has none (a result may fail on its own)."""
    results = output.get("results") or []
    first = results[0] if results and isinstance(results[0], dict) else {}
    if isinstance(first.get("url"), str):
        return first
    code, message = str(first.get("code") or ""), str(first.get("message") or "")
    if is_moderation(code, message):
        raise ContentRejected(f"DashScope content moderation rejected the {endpoint.name} result ({code}: {message})", backend=BACKEND)
    reason = f"{code or 'no code'}: {message or str(output)[:200]}"
    raise InvalidArtifact(f"DashScope {endpoint.name} succeeded without an image URL ({reason})", backend=BACKEND)


def _unreadable(why: str) -> InvalidArtifact:
    return InvalidArtifact(f"DashScope image synthesis returned a file that is not a readable image ({why})", backend=BACKEND)
