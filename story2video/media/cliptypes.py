"""What a shot's moving picture is: a request for a clip, and the two answers a video backend may give
(a pan/zoom over the keyframe, or a clip file it wrote)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

CAMERA_MOVES = ("static", "push_in", "pull_out", "pan_left", "pan_right", "tilt_up", "tilt_down")
CameraMove = Literal["static", "push_in", "pull_out", "pan_left", "pan_right", "tilt_up", "tilt_down"]


@dataclass(frozen=True)
class ClipRequest:
    keyframe: Path  # PNG
    prompt: str
    camera: str
    duration: float  # seconds the clip must cover
    width: int
    height: int
    fps: int
    seed: int


@dataclass(frozen=True)
class StillMotion:
    """A pan/zoom move over the keyframe, rendered inside the shot's segment graph (no extra encode)."""

    move: CameraMove
    zoom: float = 1.12  # how far the move zooms in at its tightest point


ClipFit = Literal["hold", "slow"]  # CLIP_FIT in settings


@dataclass(frozen=True)
class ClipFile:
    """A real video clip written by the backend (MP4). Fitted to the narration at compose time:
    a longer clip is trimmed; a shorter one holds its last frame ("hold") or is slowed down ("slow")."""

    path: Path
    duration: float
    fit: ClipFit = "hold"


Clip = StillMotion | ClipFile
