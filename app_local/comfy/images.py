"""Keyframes from a ComfyUI text-to-image workflow, cover-resized to exactly the requested size."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable

from app_local.comfy.failures import BACKEND
from app_local.comfy.inventory import WorkflowNeeds
from app_local.comfy.outputs import still_image
from app_local.comfy.runner import WorkflowJob, WorkflowRunner
from app_local.comfy.sizes import generation_size
from app_local.comfy.workflow import BoundWorkflow
from story2video.errors import InvalidArtifact
from story2video.media.pictures import write_cover_png
from story2video.providers.base import BackendStatus, ImageRequest, ImageResult, StageContext
from story2video.providers.picture_prompt import picture_prompt
from story2video.util.workdirs import work_folder

_GENERATION_SHARE = 0.95  # of the progress; the rest is the resize
SEED_RANGE = 2**64  # KSampler's seed input takes 0 .. 2**64 - 1


class ComfyImageGenerator:
    backend = BACKEND

    def __init__(self, workflow: BoundWorkflow, runner: WorkflowRunner):
        self.model = workflow.name
        self._workflow = workflow
        self._runner = runner

    async def generate(self, request: ImageRequest, dest: Path, ctx: StageContext) -> ImageResult:
        ctx.raise_if_cancelled()
        binding = self._workflow.binding
        width, height = generation_size(request.width, request.height, binding.size_multiple, binding.max_pixels)
        takes_negative = self._workflow.binds("negative_prompt")
        prompt, negative = picture_prompt(request, self._workflow.bound_text("negative_prompt")).for_backend(takes_negative)
        values: dict[str, object] = {"prompt": prompt, "seed": request.seed % SEED_RANGE, "width": width, "height": height}
        if negative:
            values["negative_prompt"] = negative
        uploads = {}
        if self._workflow.binds("reference_images"):
            # the characters' pictures, as many as the workflow has slots; the rest reach it as text only
            uploads["reference_images"] = list(request.references[: self._workflow.slots("reference_images")])
        job = WorkflowJob(self._workflow, values, pick=still_image, uploads=uploads)
        with work_folder("comfy-image-") as folder:
            result = await self._runner.run(job, Path(folder), ctx, lambda share: ctx.progress(_GENERATION_SHARE * share))
            await asyncio.to_thread(write_cover_png, result, dest, request.width, request.height, _unreadable(result))
        ctx.progress(1.0)
        return ImageResult(actual_prompt=prompt)

    async def status(self) -> BackendStatus:
        return await self._runner.pool.status("keyframes", self.model, WorkflowNeeds.of(self._workflow))


def _unreadable(output: Path) -> Callable[[str], InvalidArtifact]:
    return lambda why: InvalidArtifact(f"ComfyUI's output {output.name} is not a readable image: {why}", backend=BACKEND)
