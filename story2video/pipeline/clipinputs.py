"""What a clip backend may take beside the keyframe (``takes_references`` / ``takes_speech``, see
``story2video.media.cliptypes``): the shot's characters with their reference pictures, and the speech
of the characters it shows.

The speech track runs on the clip's clock. The segment starts the narration ``lead_in`` seconds after
the clip, so the track is that much silence, then the shot's narration with every line silenced whose
speaker is not on screen (the narrator's lines, a character heard but not shown). The narration's meta
says where each line lies (``pipeline.narration``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from story2video.media.cliptypes import ClipReference
from story2video.media.wav import keep_spans, read_mono_wav, write_mono_wav
from story2video.pipeline.deps import PipelineDeps
from story2video.pipeline.portraits import Reference, shot_references
from story2video.providers.base import StageContext, VideoGenerator
from story2video.storage.records import ArtifactRecord, ShotRecord, StoryRecord


@dataclass(frozen=True)
class ClipInputs:
    references: tuple[Reference, ...] = ()
    spans: tuple[tuple[float, float], ...] = ()  # seconds into the narration where on-screen speakers talk
    narration: ArtifactRecord | None = None
    lead_in: float = 0.0

    def clip_references(self, deps: PipelineDeps) -> tuple[ClipReference, ...]:
        return tuple(ClipReference(reference.look.name, deps.store.path_of(reference.picture)) for reference in self.references)

    def identity(self) -> dict:
        """What the clip's cache key holds of these: artifact keys, never paths; nothing when unused."""
        found: dict = {}
        if self.references:
            found["references"] = [[reference.look.name, reference.picture.key] for reference in self.references]
        if self.spans and self.narration is not None:
            found["speech"] = {"narration": self.narration.key, "spans": [list(span) for span in self.spans], "lead_in": self.lead_in}
        return found


async def clip_inputs(
    deps: PipelineDeps, video: VideoGenerator, story: StoryRecord, shot: ShotRecord, narration: ArtifactRecord, lead_in: float, ctx: StageContext
) -> ClipInputs:
    references = await shot_references(deps, story, shot, ctx) if getattr(video, "takes_references", False) else []
    spans = onscreen_spans(shot, narration) if getattr(video, "takes_speech", False) else ()
    return ClipInputs(tuple(references), spans, narration if spans else None, lead_in)


def onscreen_spans(shot: ShotRecord, narration: ArtifactRecord) -> tuple[tuple[float, float], ...]:
    """Where in the narration the characters the shot shows speak (its lines whose speaker it shows)."""
    shown = set(shot.characters)
    lines = (narration.meta or {}).get("lines") or []
    return tuple((float(line["start"]), float(line["end"])) for line in lines if line.get("speaker") in shown)


async def write_speech_track(deps: PipelineDeps, inputs: ClipInputs, dest: Path) -> Path:
    """The on-screen speakers' lines on the clip's clock, as a WAV at ``dest``."""
    assert inputs.narration is not None and inputs.spans

    def write() -> None:
        pcm, rate = read_mono_wav(deps.store.path_of(inputs.narration))
        write_mono_wav(dest, keep_spans(pcm, rate, inputs.spans, inputs.lead_in), rate)

    await asyncio.to_thread(write)
    return dest
