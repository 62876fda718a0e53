"""What one step of a render hands the next when they run in different processes: artifact keys and
plain values (JSON), never paths or open objects. The receiving side looks every key up again."""

from __future__ import annotations

from dataclasses import asdict

from story2video.errors import MediaError
from story2video.media.cliptypes import ClipFile, StillMotion
from story2video.media.subtitles import Cue
from story2video.pipeline.deps import PipelineDeps
from story2video.pipeline.render import ShotCut, ShotMedia
from story2video.storage.records import ArtifactRecord, ShotRecord


def media_to_wire(media: ShotMedia) -> dict:
    clip = media.clip
    if isinstance(clip, StillMotion):
        clip_wire = {"motion": asdict(clip)}
    else:
        clip_wire = {"file": clip.path.stem, "duration": clip.duration, "fit": clip.fit}
    return {"narration": media.narration.key, "keyframe": media.keyframe.key, "clip": clip_wire}


def media_from_wire(deps: PipelineDeps, wire: dict) -> ShotMedia:
    clip_wire = wire["clip"]
    if "motion" in clip_wire:
        clip = StillMotion(**clip_wire["motion"])
    else:
        record = _artifact(deps, clip_wire["file"], "clip")
        clip = ClipFile(path=deps.store.path_of(record), duration=float(clip_wire["duration"]), fit=clip_wire["fit"])
    return ShotMedia(narration=_artifact(deps, wire["narration"], "narration"), keyframe=_artifact(deps, wire["keyframe"], "keyframe"), clip=clip)


def cut_to_wire(cut: ShotCut) -> dict:
    return {
        "segment": cut.segment.key,
        "narration": cut.narration.key,
        "duration": cut.duration,
        "cues": [{**asdict(cue), "lines": list(cue.lines)} for cue in cut.cues],
    }


def cut_from_wire(deps: PipelineDeps, shot: ShotRecord, wire: dict) -> ShotCut:
    cues = [Cue(**{**c, "lines": tuple(c["lines"])}) for c in wire["cues"]]
    return ShotCut(
        shot=shot,
        segment=_artifact(deps, wire["segment"], "segment"),
        narration=_artifact(deps, wire["narration"], "narration"),
        duration=float(wire["duration"]),
        cues=cues,
    )


def _artifact(deps: PipelineDeps, key: str, what: str) -> ArtifactRecord:
    record = deps.store.get(key)
    if record is None:
        raise MediaError(f"the {what} {key[:12]}… made by an earlier step is gone from OUTPUT_DIR: is it shared by every host?")
    return record
