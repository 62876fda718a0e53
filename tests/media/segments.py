"""Segments for the join tests: one still card and one narration tone per segment."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from pathlib import Path

from story2video.media.compose import SegmentSpec, SoundPart, encode_segment, encode_soundtrack, join_segments
from story2video.media.ffmpeg import locate_ffmpeg
from story2video.media.fonts import FontInfo
from story2video.providers.base import StageContext, StillMotion
from tests.media.avcheck import PALETTE, write_card, write_tone
from tests.media.conftest import SMALL

LEAD_IN, TAIL = 0.2, 0.4
# Narration lengths chosen so no segment is a whole number of AAC frames (1024 samples) long.
NARRATION_S = [0.9, 1.037, 1.174, 1.311, 1.448, 1.585, 1.722, 1.859]


@dataclass(frozen=True)
class Segments:
    paths: list[Path]
    durations: list[float]
    tones: list[float]  # narration tone of each segment, Hz
    narrations: list[Path]  # WAV

    def starts(self, crossfade: float = 0.0) -> list[float]:
        starts, elapsed = [], 0.0
        for duration in self.durations:
            starts.append(elapsed)
            elapsed += duration - crossfade
        return starts


def build_segments(
    ffmpeg: Path, folder: Path, font: FontInfo, narrations: list[float], tail: float = TAIL, crossfade: float = 0.0
) -> Segments:
    paths, durations, tones, wavs = [], [], [], []
    for index, narration_s in enumerate(narrations):
        spec = segment_spec(folder, font, index, crossfade, narration_s=narration_s, tail=tail)
        dest = folder / f"segment{index}.mp4"
        durations.append(asyncio.run(encode_segment(ffmpeg, spec, SMALL, dest, StageContext())))
        paths.append(dest)
        tones.append(tone_of(index))
        wavs.append(spec.narration)
    return Segments(paths, durations, tones, wavs)


def tone_of(index: int) -> float:
    return 300.0 + 60.0 * index


def segment_spec(
    folder: Path, font: FontInfo, index: int, crossfade: float, *, narration_s: float | None = None, tail: float = TAIL
) -> SegmentSpec:
    """Segment ``index``: a still card of ``PALETTE[index]`` and a narration tone of its own."""
    narration_s = NARRATION_S[index] if narration_s is None else narration_s
    return SegmentSpec(
        keyframe=write_card(folder / f"key{index}.png", (320, 180), PALETTE[index]),
        clip=StillMotion("static"),
        narration=write_tone(folder / f"voice{index}.wav", narration_s, tone_of(index), rate=22050, amplitude=0.5),
        narration_duration=narration_s,
        lead_in=LEAD_IN,
        tail=tail,
        cues=None,
        font=font,
        crossfade=crossfade,
    )


def join(
    segments: Segments,
    dest: Path,
    *,
    soundtrack: bool = True,
    crossfade: float = 0.0,
    music: Path | None = None,
    generated_music: bool = False,
    transitions: Mapping[int, Path] | Awaitable[Mapping[int, Path]] | None = None,
    slot: RecordingSlot | None = None,
) -> float:
    """Join as the render does (the audio copied from a soundtrack encoded from the narrations, the
    ``transitions`` made beforehand used), or with ``soundtrack=False`` by re-encoding the segments' own audio."""
    ffmpeg = locate_ffmpeg()
    if not soundtrack:
        return asyncio.run(join_segments(
            ffmpeg, segments.paths, segments.durations, dest, crossfade=crossfade, music=music,
            generated_music=generated_music, profile=SMALL, ctx=StageContext(), slot=slot,
        ))
    track = dest.with_name(dest.stem + "-soundtrack.m4a")
    parts = [SoundPart(wav, LEAD_IN, duration) for wav, duration in zip(segments.narrations, segments.durations)]

    async def both() -> float:
        await encode_soundtrack(ffmpeg, parts, track, crossfade=crossfade, music=music, generated_music=generated_music,
                                profile=SMALL, ctx=StageContext())
        return await join_segments(ffmpeg, segments.paths, segments.durations, dest, crossfade=crossfade,
                                   soundtrack=track, transitions=transitions, profile=SMALL, ctx=StageContext(), slot=slot)

    return asyncio.run(both())


class RecordingSlot:
    """A stand-in for a compose slot (``slot=`` of the composer's functions) that records when it is held."""

    def __init__(self) -> None:
        self.held = False
        self.entered = 0

    async def __aenter__(self) -> None:
        self.held = True
        self.entered += 1

    async def __aexit__(self, *exc: object) -> None:
        self.held = False
