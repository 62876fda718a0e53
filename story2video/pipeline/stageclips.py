"""A clip made on its own, as a file (seed 003's clips stage): the video backend's clip, or, where the
backend moves the still itself (the preview's pan/zoom), that move encoded to a silent MP4."""

from __future__ import annotations

import time
from dataclasses import asdict

from story2video.media.cliptypes import ClipFile
from story2video.media.compose import encode_still_clip
from story2video.pipeline.cache import artifact_key
from story2video.pipeline.deps import PipelineDeps
from story2video.pipeline.failures import stage_errors
from story2video.pipeline.render import RenderSpec, _profile, make_clip
from story2video.pipeline.validate import mp4_validator
from story2video.stagecontext import StageContext
from story2video.storage.artifacts import Produced
from story2video.storage.records import ArtifactRecord, ShotRecord


async def clip_file(
    deps: PipelineDeps, shot: ShotRecord, keyframe: ArtifactRecord, duration: float, spec: RenderSpec, ctx: StageContext
) -> ArtifactRecord:
    clip = await make_clip(deps, shot, keyframe, duration, spec, ctx)
    if isinstance(clip, ClipFile):
        record = deps.store.get(clip.path.stem)
        if record is None:
            raise FileNotFoundError(f"the clip {clip.path.name} vanished right after it was made")
        return record
    profile = _profile(deps, spec)
    key = artifact_key("still-clip", keyframe=keyframe.key, motion=asdict(clip), profile=asdict(profile), duration=round(duration, 3))

    async def produce(dest) -> Produced:
        async with deps.compose_slots.slot(time.time(), duration):  # its turn: when it asks
            seconds = await encode_still_clip(deps.ffmpeg, deps.store.path_of(keyframe), clip, profile, duration, dest, ctx)
        return Produced("ffmpeg", profile.encoder, duration=seconds, meta={"shot_id": shot.shot_id, "keyframe": keyframe.key})

    with stage_errors("clips", "ffmpeg", shot.shot_id):
        return await deps.store.ensure(key, "clip", "mp4", produce, mp4_validator(deps.ffmpeg, require_audio=False))
