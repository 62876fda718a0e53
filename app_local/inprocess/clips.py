"""Clips from an in-process diffusers image-to-video pipeline (e.g. Stable Video Diffusion).

The keyframe is cover-fitted to the model's generation size; the frame count follows the narration
(duration x fps) up to the manifest's ``max_frames``. Frames are encoded to H.264 MP4 and the clip's
measured duration is returned; the composer holds its last frame when the narration is longer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from app_local.comfy.clips import clip_prompt
from app_local.inprocess.batching import StepCallback, Work
from app_local.inprocess.images import SEED_RANGE
from app_local.inprocess.libraries import GpuLibraries
from app_local.inprocess.loading import LoadOptions, call_arguments
from app_local.inprocess.manifest import ModelSpec
from app_local.inprocess.pictures import generation_size
from app_local.inprocess.pool import DevicePool
from app_local.inprocess.worker import BACKEND
from story2video.errors import BackendError
from story2video.media.clips import ClipEncoder, ClipPlan, clip_frames
from story2video.media.pictures import cover_fit, read_picture
from story2video.providers.base import BackendStatus, ClipFile, ClipRequest, StageContext

GENERATION_SHARE = 0.9  # of the progress; the rest is the encode


def plan_clip(request: ClipRequest, spec: ModelSpec) -> ClipPlan:
    fps, frames = clip_frames(request, spec.max_fps, spec.max_frames)
    width, height = generation_size(request.width, request.height, spec.width, spec.height, spec.size_multiple)
    return ClipPlan(width=width, height=height, fps=fps, frames=frames)


@dataclass(frozen=True)
class ClipCall:
    image: Image.Image
    prompt: str
    negative_prompt: str
    seed: int


@dataclass(frozen=True)
class ClipBatch:
    """Runs a batch of ``ClipCall``s of one plan through an image-to-video pipeline."""

    libraries: GpuLibraries
    model: ModelSpec
    plan: ClipPlan

    def __call__(self, pipe: Any, calls: list[ClipCall], on_step: StepCallback) -> list[list[Image.Image]]:
        torch = self.libraries.torch
        accepted = call_arguments(pipe)
        arguments: dict[str, Any] = {
            "image": [call.image for call in calls],
            "height": self.plan.height,
            "width": self.plan.width,
            "num_frames": self.plan.frames,
            "num_inference_steps": self.model.steps,
            "generator": [torch.Generator(device="cpu").manual_seed(call.seed) for call in calls],
            "output_type": "pil",
            "callback_on_step_end": on_step,
        }
        arguments.update(self._optional(accepted, calls))
        return [list(frames) for frames in pipe(**arguments, **self.model.call_kwargs).frames]

    def _optional(self, accepted: frozenset[str], calls: list[ClipCall]) -> dict[str, Any]:
        """Arguments only some image-to-video pipelines take (text, frame rate, guidance)."""
        extra: dict[str, Any] = {}
        if "prompt" in accepted:
            extra["prompt"] = [call.prompt for call in calls]
        if "negative_prompt" in accepted and any(call.negative_prompt for call in calls):
            extra["negative_prompt"] = [call.negative_prompt for call in calls]
        for name in ("fps", "frame_rate"):
            if name in accepted:
                extra[name] = self.plan.fps
        guidance = self.model.guidance
        if guidance is not None:
            name = "max_guidance_scale" if "max_guidance_scale" in accepted else "guidance_scale"
            if name in accepted:
                extra[name] = guidance
        return extra


class DiffusersVideoGenerator:
    backend = BACKEND

    def __init__(self, libraries: GpuLibraries, model: ModelSpec, pool: DevicePool, options: LoadOptions,
                 encoder: ClipEncoder, max_batch: int, window_s: float):
        self.model = model.name
        self._libraries = libraries
        self._spec = model
        self._pool = pool
        self._options = options
        self._encoder = encoder
        self._batch_limit = min(max_batch, model.max_batch or max_batch)
        self._window_s = window_s

    async def animate(self, request: ClipRequest, dest: Path, ctx: StageContext) -> ClipFile:
        ctx.raise_if_cancelled()
        spec = self._spec
        plan = plan_clip(request, spec)
        keyframe = await asyncio.to_thread(_read_keyframe, request.keyframe, plan)
        call = ClipCall(image=keyframe, prompt=clip_prompt(request), negative_prompt=spec.negative_prompt, seed=request.seed % SEED_RANGE)
        work = self._work(call, plan)
        frames = await self._pool.run(work, ctx, lambda share: ctx.progress(GENERATION_SHARE * share))
        duration = await self._encoder.frames_to_mp4(frames, plan.fps, dest, ctx)
        ctx.progress(1.0)
        return ClipFile(path=dest, duration=duration)

    def warm_up(self, width: int, height: int) -> None:
        """A full batch of the longest clips at the size a ``width`` x ``height`` request is made at (logged only)."""
        spec = self._spec
        gen_width, gen_height = generation_size(width, height, spec.width, spec.height, spec.size_multiple)
        plan = ClipPlan(width=gen_width, height=gen_height, fps=spec.max_fps, frames=spec.max_frames)
        still = Image.new("RGB", (gen_width, gen_height), (128, 128, 128))
        call = ClipCall(image=still, prompt="warm-up", negative_prompt=spec.negative_prompt, seed=0)
        self._pool.warm_up(self._work(call, plan), self._batch_limit)

    def _work(self, call: ClipCall, plan: ClipPlan) -> Work:
        spec = self._spec
        return Work(
            key=("video", spec.entry_key, plan),
            model=spec,
            options=self._options,
            run=ClipBatch(self._libraries, spec, plan),
            payload=call,
            steps=spec.steps,
            batch_limit=self._batch_limit,
            window_s=self._window_s,
        )

    async def status(self) -> BackendStatus:
        return self._pool.status("clips", self._spec)


def _read_keyframe(path: Path, plan: ClipPlan) -> Image.Image:
    def unreadable(why: str) -> BackendError:
        return BackendError(f"the keyframe {path.name} is not a readable image: {why}", stage="clips", backend=BACKEND)

    return cover_fit(read_picture(path, unreadable), plan.width, plan.height)
