"""Optional prompt refinement before drawing: the shot's detail becomes the image model's prompt.

A refinement is an artifact like any other (a small text file keyed by refiner, detail and style),
so an LLM that answers differently each time cannot defeat the keyframe cache.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from story2video.errors import InvalidArtifact
from story2video.pipeline.cache import artifact_key
from story2video.pipeline.deps import PipelineDeps
from story2video.pipeline.failures import stage_errors, within_timeout
from story2video.providers.base import StageContext
from story2video.storage.artifacts import Produced
from story2video.storage.records import ShotRecord

STAGE = "prompts"


async def image_prompt(deps: PipelineDeps, shot: ShotRecord, ctx: StageContext) -> str:
    """The prompt the image backend gets: the refined one when a refiner is configured, else the detail."""
    refiner = deps.providers.refiner
    if refiner is None:
        return shot.detail
    key = artifact_key("prompt", backend=refiner.backend, model=refiner.model, detail=shot.detail, style=shot.style)

    async def produce(dest: Path) -> Produced:
        with stage_errors(STAGE, refiner.backend, shot.shot_id):
            text = await within_timeout(
                refiner.refine(shot.detail, shot.style, ctx), deps.settings.storyboard_timeout_s, STAGE, refiner.backend
            )
        await asyncio.to_thread(dest.write_text, text.strip(), "utf-8")
        return Produced(refiner.backend, refiner.model, meta={"detail": shot.detail, "style": shot.style})

    with stage_errors(STAGE, refiner.backend, shot.shot_id):
        record = await deps.store.ensure(key, "prompt", "txt", produce, _validate_prompt)
    return await asyncio.to_thread(deps.store.path_of(record).read_text, "utf-8")


async def _validate_prompt(path: Path) -> None:
    text = await asyncio.to_thread(path.read_text, "utf-8")
    if not text.strip():
        raise InvalidArtifact("the refined image prompt is empty")
