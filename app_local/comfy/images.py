"""Keyframes from a ComfyUI text-to-image workflow, cover-resized to exactly the requested size."""

from __future__ import annotations

import asyncio
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from app_local.comfy.failures import BACKEND
from app_local.comfy.inventory import WorkflowNeeds
from app_local.comfy.outputs import still_image
from app_local.comfy.runner import WorkflowJob, WorkflowRunner
from app_local.comfy.sizes import generation_size
from app_local.comfy.workflow import BoundWorkflow
from story2video.errors import InvalidArtifact, without_paths
from story2video.media.pictures import save_cover_png
from story2video.providers.base import BackendStatus, ImageRequest, StageContext
from story2video.util.workdirs import work_folder

_GENERATION_SHARE = 0.95  # of the progress; the rest is the resize
SEED_RANGE = 2**64  # KSampler's seed input takes 0 .. 2**64 - 1


class ComfyImageGenerator:
    backend = BACKEND

    def __init__(self, workflow: BoundWorkflow, runner: WorkflowRunner):
        self.model = workflow.name
        self._workflow = workflow
        self._runner = runner

    async def generate(self, request: ImageRequest, dest: Path, ctx: StageContext) -> None:
        ctx.raise_if_cancelled()
        binding = self._workflow.binding
        width, height = generation_size(request.width, request.height, binding.size_multiple, binding.max_pixels)
        values: dict[str, object] = {
            "prompt": image_prompt(request),
            "seed": request.seed % SEED_RANGE,
            "width": width,
            "height": height,
        }
        if request.negative_prompt:
            values["negative_prompt"] = request.negative_prompt  # else the workflow's own stays
        job = WorkflowJob(self._workflow, values, pick=still_image)
        with work_folder("comfy-image-") as folder:
            result = await self._runner.run(job, Path(folder), ctx, lambda share: ctx.progress(_GENERATION_SHARE * share))
            await asyncio.to_thread(cover_fit_png, result, dest, request.width, request.height)
        ctx.progress(1.0)

    async def status(self) -> BackendStatus:
        return await self._runner.pool.status("keyframes", self.model, WorkflowNeeds.of(self._workflow))


def image_prompt(request: ImageRequest) -> str:
    """The shot's picture description, its subject when the description does not name it, and the style."""
    parts = [request.prompt.strip()]
    if request.subject.strip() and request.subject.strip() not in request.prompt:
        parts.append(request.subject.strip())
    if request.style.strip():
        parts.append(f"{request.style.strip()} style")
    return ", ".join(part for part in parts if part)


def cover_fit_png(source: Path, dest: Path, width: int, height: int) -> None:
    """Scale ``source`` to cover ``width`` x ``height``, crop the overflow evenly, save as PNG."""
    try:
        with Image.open(source) as image:
            image.load()
            picture = image.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidArtifact(
            f"ComfyUI's output {source.name} is not a readable image: {without_paths(str(exc))}", backend=BACKEND
        ) from exc
    save_cover_png(picture, dest, width, height)
