"""Segments for the join tests: one still card and one narration tone per segment."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from story2video.media.compose import SegmentSpec, encode_segment, join_segments
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

    def starts(self, crossfade: float = 0.0) -> list[float]:
        starts, elapsed = [], 0.0
        for duration in self.durations:
            starts.append(elapsed)
            elapsed += duration - crossfade
        return starts


def build_segments(
    ffmpeg: Path, folder: Path, font: FontInfo, narrations: list[float], tail: float = TAIL, crossfade: float = 0.0
) -> Segments:
    paths, durations, tones = [], [], []
    for index, narration_s in enumerate(narrations):
        tone = 300.0 + 60.0 * index
        spec = SegmentSpec(
            keyframe=write_card(folder / f"key{index}.png", (320, 180), PALETTE[index]),
            clip=StillMotion("static"),
            narration=write_tone(folder / f"voice{index}.wav", narration_s, tone, rate=22050, amplitude=0.5),
            narration_duration=narration_s,
            lead_in=LEAD_IN,
            tail=tail,
            cues=None,
            font=font,
            crossfade=crossfade,
        )
        dest = folder / f"segment{index}.mp4"
        durations.append(asyncio.run(encode_segment(ffmpeg, spec, SMALL, dest, StageContext())))
        paths.append(dest)
        tones.append(tone)
    return Segments(paths, durations, tones)


def join(segments: Segments, dest: Path, **options) -> float:
    return asyncio.run(
        join_segments(
            locate_ffmpeg(), segments.paths, segments.durations, dest, profile=SMALL, ctx=StageContext(), **options
        )
    )
