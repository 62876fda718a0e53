"""Keyframes from DashScope image synthesis (Qwen-Image / Wan text-to-image): as asynchronous
text2image tasks, or, for the models the region's table marks synchronous (qwen-image-max, Qwen-Image
2.x), as one multimodal-generation call that answers with the image's URL."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from pathlib import Path

from app_api.dashscope.catalog import TASK, ImageModel
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
SYNC_IMAGE_PATH = "/api/v1/services/aigc/multimodal-generation/generation"
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
        model: ImageModel,
        options: ImageOptions,
        softener: PromptSoftener,
        slots: asyncio.Semaphore,
        probe: DashScopeProbe,
    ):
        self.client, self.tasks, self.endpoint, self.options = client, tasks, endpoint, options
        self.softener, self._slots, self.probe = softener, slots, probe
        self.model, self.entry = endpoint.model, model

    async def generate(self, request: ImageRequest, dest: Path, ctx: StageContext) -> ImageResult:
        size = image_size(self.entry, request.width, request.height)
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
        if self.entry.call != TASK:
            return await self._draw_at_once(prompt, negative, size, request, ctx)

        async def fetch(output: dict) -> Drawn:
            result = first_result(output, self.endpoint)
            data = await self.client.download(result["url"], self.endpoint)
            return Drawn(data, str(result.get("actual_prompt") or prompt))

        spec = TaskSpec(IMAGE_PATH, self._body(prompt, negative, size, request), self.endpoint, IMAGE_JOB)
        return await self.tasks.run(spec, ctx, fetch)

    async def _draw_at_once(self, prompt: str, negative: str, size: tuple[int, int], request: ImageRequest, ctx: StageContext) -> Drawn:
        """One synchronous multimodal-generation call; like a task submission it is billed, so it is not
        sent again once it may have reached DashScope. It leaves no task to resume after a takeover."""
        ctx.raise_if_cancelled()
        pictures = await asyncio.to_thread(_data_uris, request.references[: self.entry.references])
        message = {"role": "user", "content": [*({"image": picture} for picture in pictures), {"text": prompt}]}
        parameters = {**self._parameters(size, request), **({"negative_prompt": negative} if negative else {})}
        body = {"model": self.model, "input": {"messages": [message]}, "parameters": parameters}
        answer = await self.client.post_json(f"{self.tasks.base_url}{SYNC_IMAGE_PATH}", body, self.endpoint, creates=True)
        url = sync_image_url(answer, self.endpoint)
        ctx.progress(0.5)
        return Drawn(await self.client.download(url, self.endpoint), prompt)

    def _body(self, prompt: str, negative: str, size: tuple[int, int], request: ImageRequest) -> dict:
        parameters = self._parameters(size, request)
        body_input = {"prompt": prompt, **({"negative_prompt": negative} if negative else {})}
        return {"model": self.model, "input": body_input, "parameters": parameters}

    def _parameters(self, size: tuple[int, int], request: ImageRequest) -> dict:
        """The parameters of both calls; a synchronous call adds negative_prompt to them, a task has it in its input."""
        return {
            "size": size_text(size),
            "n": 1,
            "seed": request.seed % 2**31,
            "prompt_extend": self.options.prompt_extend,
            "watermark": self.options.watermark,
        }


def _data_uris(paths) -> list[str]:
    """Reference pictures as the ``data:<type>;base64,...`` image parts of a multimodal-generation call."""
    return [f"data:image/png;base64,{base64.b64encode(Path(path).read_bytes()).decode('ascii')}" for path in paths]


def sync_image_url(answer: dict, endpoint: Endpoint) -> str:
    """The image URL of a multimodal-generation answer: output.choices[0].message.content[*].image."""
    choices = (answer.get("output") or {}).get("choices") or []
    message = choices[0].get("message", {}) if choices and isinstance(choices[0], dict) else {}
    for part in message.get("content") or []:
        if isinstance(part, dict) and isinstance(part.get("image"), str) and part["image"]:
            return part["image"]
    code, text = str(answer.get("code") or ""), str(answer.get("message") or "")
    if is_moderation(code, text):
        raise ContentRejected(f"DashScope content moderation rejected the {endpoint.name} result ({code}: {text})", backend=BACKEND)
    raise InvalidArtifact(f"DashScope {endpoint.name} answered without an image URL: {str(answer)[:200]}", backend=BACKEND)


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
