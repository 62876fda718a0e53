"""Keyframes from an in-process diffusers text-to-image pipeline, several shots per pipeline call.

Each image gets its own ``torch.Generator`` (on the CPU, seeded with the shot's seed), so a shot's
picture is the same whether it was drawn alone or in a batch, and on whichever device.
"""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app_local.inprocess.adapters import reference_arguments
from app_local.inprocess.batching import StepCallback, Work
from app_local.inprocess.libraries import GpuLibraries
from app_local.inprocess.loading import LoadOptions, call_arguments, pipeline_class
from app_local.inprocess.manifest import ModelSpec
from app_local.inprocess.pictures import generation_size
from app_local.inprocess.pool import DevicePool
from app_local.inprocess.worker import BACKEND
from story2video.media.pictures import save_cover_png
from story2video.providers.base import BackendStatus, ImageRequest, ImageResult, StageContext
from story2video.providers.picture_prompt import picture_prompt

GENERATION_SHARE = 0.95  # of the progress; the rest is writing the PNG
SEED_RANGE = 2**64  # torch.Generator.manual_seed takes 0 .. 2**64 - 1


@dataclass(frozen=True)
class ImageCall:
    prompt: str
    negative_prompt: str
    seed: int
    references: tuple[Path, ...] = ()  # reference pictures for the model's IP-Adapter


@dataclass(frozen=True)
class ImageBatch:
    """Runs a batch of ``ImageCall``s of one size through a text-to-image pipeline."""

    libraries: GpuLibraries
    model: ModelSpec
    width: int
    height: int

    def __call__(self, pipe: Any, calls: list[ImageCall], on_step: StepCallback) -> list[Any]:
        torch = self.libraries.torch
        accepted = call_arguments(pipe)
        arguments: dict[str, Any] = {
            "prompt": [call.prompt for call in calls],
            "height": self.height,
            "width": self.width,
            "num_inference_steps": self.model.steps,
            "generator": [torch.Generator(device="cpu").manual_seed(call.seed) for call in calls],
            "output_type": "pil",
            "callback_on_step_end": on_step,
        }
        if "negative_prompt" in accepted and any(call.negative_prompt for call in calls):
            arguments["negative_prompt"] = [call.negative_prompt for call in calls]
        if "guidance_scale" in accepted and self.model.guidance is not None:
            arguments["guidance_scale"] = self.model.guidance
        if self.model.ip_adapter is not None:  # one call per batch (the adapter's images are per call)
            arguments.update(reference_arguments(pipe, self.model, calls[0].references))
        return list(pipe(**arguments, **self.model.call_kwargs).images)


class DiffusersImageGenerator:
    backend = BACKEND

    def __init__(self, libraries: GpuLibraries, model: ModelSpec, pool: DevicePool, options: LoadOptions, max_batch: int, window_s: float):
        self.model = model.name
        self._libraries = libraries
        self._spec = model
        self._pool = pool
        self._options = options
        self._batch_limit = min(max_batch, model.max_batch or max_batch)
        self._window_s = window_s
        self._takes_negative = "negative_prompt" in inspect.signature(pipeline_class(libraries, model).__call__).parameters

    async def generate(self, request: ImageRequest, dest: Path, ctx: StageContext) -> ImageResult:
        ctx.raise_if_cancelled()
        prompt, negative = picture_prompt(request, self._spec.negative_prompt).for_backend(self._takes_negative)
        references = request.references if self._spec.ip_adapter is not None else ()
        call = ImageCall(prompt=prompt, negative_prompt=negative, seed=request.seed % SEED_RANGE, references=references)
        work = self._work(call, request.width, request.height)
        picture = await self._pool.run(work, ctx, lambda share: ctx.progress(GENERATION_SHARE * share))
        await asyncio.to_thread(save_cover_png, picture, dest, request.width, request.height)
        ctx.progress(1.0)
        return ImageResult(actual_prompt=call.prompt)

    def warm_up(self, width: int, height: int) -> None:
        """A full batch at the size a ``width`` x ``height`` request is drawn at, on every device (logged only)."""
        call = ImageCall(prompt="warm-up", negative_prompt=self._spec.negative_prompt if self._takes_negative else "", seed=0)
        self._pool.warm_up(self._work(call, width, height), self._batch_limit)

    def _work(self, call: ImageCall, width: int, height: int) -> Work:
        spec = self._spec
        width, height = generation_size(width, height, spec.width, spec.height, spec.size_multiple)
        return Work(
            key=("image", spec.entry_key, width, height),
            model=spec,
            options=self._options,
            run=ImageBatch(self._libraries, spec, width, height),
            payload=call,
            steps=spec.steps,
            batch_limit=1 if spec.ip_adapter is not None else self._batch_limit,
            window_s=self._window_s,
        )

    async def status(self) -> BackendStatus:
        return self._pool.status("keyframes", self._spec)

