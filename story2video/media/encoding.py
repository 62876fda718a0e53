"""What every FFmpeg run of the composer shares: the output profile, the encoder arguments that make
pieces joinable without re-encoding, and running/confirming an output file."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ffmpeg.nodes import FilterableStream

from story2video.errors import InvalidArtifact, MediaError
from story2video.media.ffmpeg import run_ffmpeg
from story2video.media.probe import aprobe
from story2video.stagecontext import StageContext

AspectRatio = Literal["16:9", "9:16", "1:1"]
_ASPECTS: dict[str, tuple[int, int]] = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1)}
_NVENC_PRESETS = {"ultrafast": "p1", "superfast": "p2", "veryfast": "p3", "faster": "p3", "fast": "p4",
                  "medium": "p5", "slow": "p6", "slower": "p7", "veryslow": "p7"}
KEYFRAME_INTERVAL_S = 2
# Generous wall-clock limits: a fixed allowance plus seconds of work per second of output.
TIMEOUT_BASE_S = 120.0
TIMEOUT_PER_OUTPUT_S = 20.0
DURATION_TOLERANCE_S = 0.02  # the 10 ms resolution of ``ffmpeg -i`` plus rounding


def output_size(aspect: AspectRatio, short_side: int) -> tuple[int, int]:
    """(width, height), both even; the short side is ``short_side`` (an odd one is lowered by 1)."""
    if aspect not in _ASPECTS:
        raise ValueError(f"unknown aspect ratio {aspect!r}")
    wide, tall = _ASPECTS[aspect]
    short = max(2, short_side - short_side % 2)
    long = 2 * round(short * max(wide, tall) / min(wide, tall) / 2)
    return (long, short) if wide >= tall else (short, long)


@dataclass(frozen=True)
class RenderProfile:
    width: int
    height: int
    fps: int
    encoder: str = "libx264"
    preset: str = "veryfast"
    crf: int = 20
    audio_bitrate: str = "128k"
    audio_rate: int = 48000

    def frames(self, seconds: float) -> int:
        """Whole frames closest to ``seconds`` (at least one)."""
        return max(1, round(seconds * self.fps))

    def fade_frames(self, crossfade: float) -> int:
        """A crossfade in whole frames (0: none); segments and their join must agree on it."""
        return self.frames(crossfade) if crossfade > 0 else 0

    def samples(self, frames: int) -> int:
        """Audio samples lasting exactly as long as ``frames`` video frames."""
        return round(frames * self.audio_rate / self.fps)


def video_args(profile: RenderProfile, keyframes: Iterable[int] = (), threads: int = 0) -> dict[str, object]:
    """H.264 High yuv420p, constant fps, a keyframe every ~2 s and at each of ``keyframes`` (frame
    numbers), BT.709 tags. Every piece encoded with these arguments has the same parameter sets,
    whatever its encoder ``threads`` (0: the encoder's own choice, one per ~2/3 core)."""
    common: dict[str, object] = {
        "c:v": profile.encoder,
        "pix_fmt": "yuv420p",
        "profile:v": "high",
        "r": profile.fps,
        "fps_mode": "cfr",
        "g": profile.fps * KEYFRAME_INTERVAL_S,
        "colorspace": "bt709",
        "color_primaries": "bt709",
        "color_trc": "bt709",
        "color_range": "tv",
    }
    if threads:
        common["threads"] = threads
    forced = sorted(set(keyframes))
    if forced:
        common["force_key_frames"] = "expr:" + "+".join(f"eq(n,{frame})" for frame in forced)
    if profile.encoder == "h264_nvenc":
        return common | {"preset": _NVENC_PRESETS.get(profile.preset, "p4"), "rc": "vbr", "cq": profile.crf, "b:v": 0}
    return common | {"preset": profile.preset, "crf": profile.crf}


def as_encoded(picture: FilterableStream) -> FilterableStream:
    """``picture`` tagged as every piece of a video is encoded: BT.709 limited range, progressive,
    square pixels. The encoder writes these tags into the parameter sets (its output options alone do
    not override what the frames say), and the pieces of a join are copied together, so every picture
    source must end with the same tags."""
    return picture.filter(
        "setparams", field_mode="prog", range="tv", color_primaries="bt709", color_trc="bt709", colorspace="bt709"
    ).filter("setsar", 1)


def audio_args(profile: RenderProfile) -> dict[str, object]:
    return {"c:a": "aac", "b:a": profile.audio_bitrate, "ar": profile.audio_rate, "ac": 2}


def encoder_threads(side_by_side: int) -> int:
    """Encoder threads for each of ``side_by_side`` encodes that share this machine's cores. One x264
    thread costs about 14 % less CPU per frame than its own choice (three on two cores), so encodes
    that fill the cores between them get a share each, and a lone encode gets them all."""
    return max(1, (os.cpu_count() or 1) // max(1, side_by_side))


def seek_time(frame: int, profile: RenderProfile) -> str:
    """The time of ``frame`` for ``-ss``, rounded up to FFmpeg's microsecond so that a seek lands on
    that frame, not the one before."""
    return f"{math.ceil(frame * 1_000_000 / profile.fps) / 1_000_000:.6f}"


def render_timeout(seconds: float) -> float:
    return TIMEOUT_BASE_S + TIMEOUT_PER_OUTPUT_S * seconds


async def render(
    ffmpeg: Path,
    args: list[str],
    dests: Iterable[Path],
    ctx: StageContext,
    seconds: float,
    *,
    progress: bool = True,
    stdin: Iterable[bytes | memoryview] | None = None,
) -> None:
    """Run FFmpeg for ``seconds`` of output; a failed or cancelled run leaves none of ``dests``.
    ``stdin``: what to feed its standard input (see ``run_ffmpeg``)."""
    try:
        await run_ffmpeg(
            ffmpeg, args, ctx=ctx, timeout=render_timeout(seconds), expected_duration=seconds if progress else None,
            stdin=stdin,
        )
    except BaseException:
        for dest in dests:
            dest.unlink(missing_ok=True)
        raise


async def confirmed_duration(ffmpeg: Path, dest: Path, expected: float) -> float:
    """Probe what FFmpeg wrote and return its duration.

    ``ffmpeg -i`` reports durations in 10 ms steps; when the measurement agrees with the exact
    length we asked for (a whole number of frames), that exact length is returned, so sums over
    many segments do not pick up rounding. A file of another length is an error.
    """
    try:
        info = await aprobe(ffmpeg, dest)
    except InvalidArtifact as exc:
        raise MediaError(f"FFmpeg wrote an unreadable {dest.name}: {exc.message}") from exc
    if info.video is None or info.audio is None:
        raise MediaError(f"{dest.name} lacks a video or an audio stream")
    if abs(info.duration - expected) > DURATION_TOLERANCE_S:
        raise MediaError(f"{dest.name} lasts {info.duration:.2f} s instead of {expected:.3f} s")
    return expected
