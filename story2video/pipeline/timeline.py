"""The render's edit decisions: where each shot's segment, narration and subtitles sit in the final video.

The join counts each segment as whole frames and a crossfade as whole frames (media/compose.py), so
shot i starts at frame sum(frames[j] - fade for j < i) of the final video. This record is stored as
an artifact beside the final video (its key is in the video's metadata, so retention keeps it while it
keeps the video) and is what the editor exports are built from: no timing is re-derived from floats.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from story2video.pipeline.cache import artifact_key
from story2video.storage.artifacts import ArtifactStore, Produced
from story2video.storage.records import ArtifactRecord

TIMELINE_META = "timeline"  # the key of a final video's timeline, in the video artifact's metadata


@dataclass(frozen=True)
class TimelineCue:
    start: float  # seconds from the start of the shot's segment
    end: float
    text: str


@dataclass(frozen=True)
class TimelineShot:
    shot_id: str
    sequence: int
    segment: str  # artifact key of the shot's segment (what the final video is cut from)
    frames: int  # the segment's length in the join, in frames of the render's fps
    narration: str  # artifact key of the narration audio
    narration_start: float  # seconds from the segment's start (the render's lead-in)
    narration_duration: float
    clip: str | None = None  # artifact key of the generated clip (None: a still animated by FFmpeg)
    keyframe: str | None = None  # artifact key of the keyframe as framed for the render
    cues: tuple[TimelineCue, ...] = ()


@dataclass(frozen=True)
class RenderTimeline:
    video: str
    subtitles: str
    fps: int
    width: int
    height: int
    fade_frames: int  # the crossfade between neighbouring segments, in frames (0: hard cuts)
    burned_subtitles: bool  # the segments show the subtitles (the SRT has them either way)
    shots: tuple[TimelineShot, ...] = field(default_factory=tuple)

    @property
    def total_frames(self) -> int:
        return sum(shot.frames for shot in self.shots) - self.fade_frames * max(0, len(self.shots) - 1)

    def start_frame(self, index: int) -> int:
        """The frame of the final video where shot ``index``'s segment starts."""
        return sum(shot.frames - self.fade_frames for shot in self.shots[:index])

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "RenderTimeline":
        data = json.loads(text)
        shots = tuple(
            TimelineShot(**{**shot, "cues": tuple(TimelineCue(**cue) for cue in shot["cues"])}) for shot in data.pop("shots")
        )
        return cls(**data, shots=shots)


def timeline_key(video_key: str) -> str:
    return artifact_key("timeline", video=video_key)


async def store_timeline(store: ArtifactStore, video: ArtifactRecord, timeline: RenderTimeline) -> ArtifactRecord:
    """Keep ``timeline`` as the artifact of ``video``'s edit decisions, and name it in the video's metadata."""

    async def produce(dest: Path) -> Produced:
        await asyncio.to_thread(dest.write_text, timeline.to_json(), "utf-8")
        return Produced("ffmpeg", "timeline", meta={"video": video.key, "segments": [shot.segment for shot in timeline.shots]})

    record = await store.ensure(timeline_key(video.key), "timeline", "json", produce, _validate_timeline)
    if video.meta.get(TIMELINE_META) != record.key:
        video.meta.update((await store.annotate(video.key, **{TIMELINE_META: record.key})).meta)
    return record


def load_timeline(store: ArtifactStore, video_key: str) -> RenderTimeline | None:
    """The edit decisions of the final video ``video_key``; None when it was rendered before they were kept."""
    record = store.get(timeline_key(video_key))
    if record is None:
        return None
    return RenderTimeline.from_json(store.path_of(record).read_text("utf-8"))


async def _validate_timeline(path: Path) -> None:
    RenderTimeline.from_json(await asyncio.to_thread(path.read_text, "utf-8"))


def shot_timeline(
    *,
    shot_id: str,
    sequence: int,
    segment: ArtifactRecord,
    frames: int,
    narration: ArtifactRecord,
    narration_start: float,
    cues: Sequence[tuple[float, float, str]],
) -> TimelineShot:
    return TimelineShot(
        shot_id=shot_id,
        sequence=sequence,
        segment=segment.key,
        frames=frames,
        narration=narration.key,
        narration_start=narration_start,
        narration_duration=float(narration.duration or 0.0),
        clip=segment.meta.get("clip"),
        keyframe=segment.meta.get("keyframe"),
        cues=tuple(TimelineCue(start, end, text) for start, end, text in cues),
    )
