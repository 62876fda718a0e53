"""What every image-to-video backend shares: how many frames a clip request needs, and how a
backend's frames become an MP4 the composer can fit to the narration."""

from __future__ import annotations

import math
from dataclasses import dataclass

from story2video.errors import InvalidRequest
from story2video.media.cliptypes import ClipRequest


@dataclass(frozen=True)
class ClipPlan:
    """What a backend is asked to generate for one clip."""

    width: int
    height: int
    fps: int
    frames: int


def clip_frames(request: ClipRequest, max_fps: int | None, max_frames: int | None) -> tuple[int, int]:
    """(fps, frames): the request's fps capped by the model's, frames ~ duration x fps capped by the model's.

    A clip shorter than the narration is fine: the composer holds its last frame (or slows it).
    """
    if not (math.isfinite(request.duration) and request.duration > 0):
        raise InvalidRequest(f"clip duration must be positive, got {request.duration}", param="duration")
    if request.fps <= 0:
        raise InvalidRequest(f"fps must be positive, got {request.fps}", param="fps")
    fps = min(request.fps, max_fps or request.fps)
    frames = max(1, math.ceil(request.duration * fps))
    return fps, min(frames, max_frames) if max_frames else frames


def clip_encode_args(preset: str, crf: int) -> list[str]:
    """FFmpeg output options for a generated clip: H.264 yuv420p with even sides, no audio."""
    return [
        "-an",
        "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p",
        "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
        "-movflags", "+faststart", "-f", "mp4",
    ]
