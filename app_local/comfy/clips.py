"""Clips from a ComfyUI image-to-video workflow: upload the keyframe, generate, convert to H.264 MP4.

The clip may be shorter than the narration (image-to-video models make a few seconds at most):
the composer holds its last frame. Its measured duration is returned.
"""

from __future__ import annotations

from pathlib import Path

from app_local.comfy.failures import BACKEND
from app_local.comfy.inventory import WorkflowNeeds
from app_local.comfy.images import SEED_RANGE
from app_local.comfy.outputs import video_file
from app_local.comfy.runner import WorkflowJob, WorkflowRunner
from app_local.comfy.sizes import generation_size
from app_local.comfy.transcode import output_to_mp4
from app_local.comfy.workflow import Binding, BoundWorkflow
from story2video.errors import BackendError
from story2video.media.clips import ClipEncoder, ClipPlan, clip_frames
from story2video.providers.base import BackendStatus, ClipFile, ClipRequest, StageContext
from story2video.util.workdirs import work_folder

_GENERATION_SHARE = 0.9  # of the progress; the rest is the encode


def plan_clip(request: ClipRequest, binding: Binding) -> ClipPlan:
    """Frames ~ duration x fps, capped by the binding's ``max_frames``; fps capped by its ``max_fps``."""
    fps, frames = clip_frames(request, binding.max_fps, binding.max_frames)
    width, height = generation_size(request.width, request.height, binding.size_multiple, binding.max_pixels)
    return ClipPlan(width=width, height=height, fps=fps, frames=frames)


class ComfyVideoGenerator:
    backend = BACKEND

    def __init__(self, workflow: BoundWorkflow, runner: WorkflowRunner, encoder: ClipEncoder):
        self.model = workflow.name
        self._workflow = workflow
        self._runner = runner
        self._encoder = encoder

    async def animate(self, request: ClipRequest, dest: Path, ctx: StageContext) -> ClipFile:
        ctx.raise_if_cancelled()
        if not request.keyframe.is_file():
            raise BackendError(f"the keyframe {request.keyframe.name} does not exist", stage="clips", backend=BACKEND)
        plan = plan_clip(request, self._workflow.binding)
        values = {
            "prompt": clip_prompt(request),
            "seed": request.seed % SEED_RANGE,
            "width": plan.width,
            "height": plan.height,
            "frames": plan.frames,
            "fps": plan.fps,
        }
        job = WorkflowJob(self._workflow, values, pick=video_file, uploads={"image": request.keyframe})
        with work_folder("comfy-clip-") as folder:
            result = await self._runner.run(job, Path(folder), ctx, lambda share: ctx.progress(_GENERATION_SHARE * share))
            duration = await output_to_mp4(self._encoder, result, dest, plan.fps, ctx)
        ctx.progress(1.0)
        return ClipFile(path=dest, duration=duration)

    async def status(self) -> BackendStatus:
        return await self._runner.pool.status("clips", self.model, WorkflowNeeds.of(self._workflow))


def clip_prompt(request: ClipRequest) -> str:
    """For workflows that take text (e.g. Wan): what happens, and how the camera moves."""
    camera = request.camera.strip()
    return f"{request.prompt.strip()}. Camera: {camera}" if camera else request.prompt.strip()
