"""What a shot's moving picture is: a request for a clip, and the two answers a video backend may give
(a pan/zoom over the keyframe, or a clip file it wrote).

A backend that can use them says so with ``takes_references`` / ``takes_speech`` (read with ``getattr``,
False when absent): only then does the request carry the shot's characters' reference pictures, or the
speech of its on-screen speakers, and only then are they part of the clip's cache key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

CAMERA_MOVES = ("static", "push_in", "pull_out", "pan_left", "pan_right", "tilt_up", "tilt_down")
CameraMove = Literal["static", "push_in", "pull_out", "pan_left", "pan_right", "tilt_up", "tilt_down"]


@dataclass(frozen=True)
class ClipReference:
    """One character the shot shows, and its reference picture."""

    name: str  # as the story names the character
    picture: Path  # PNG


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
    references: tuple[ClipReference, ...] = ()  # the shot's characters, in its order (backends with takes_references)
    # WAV (s16le mono) on the clip's clock: the lines of characters on screen where the segment plays them,
    # silence elsewhere (backends with takes_speech; None when no one on screen speaks)
    speech: Path | None = None


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
    lip_synced: bool = False  # mouths move with ``ClipRequest.speech``: such a clip is held, never slowed


Clip = StillMotion | ClipFile
