"""Ken Burns "clips": a pan/zoom over the keyframe, chosen from the shot's camera direction.

Nothing is encoded here; the move is rendered inside the shot's FFmpeg segment graph.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from story2video.errors import BackendError, InvalidRequest
from story2video.providers.base import (
    CAMERA_MOVES,
    BackendStatus,
    CameraMove,
    Clip,
    ClipRequest,
    StageContext,
    StillMotion,
)

MOVE_ZOOM = 1.12  # how far a move zooms in at its tightest point


def _en(words: str) -> str:
    """English words as a pattern; letters may not touch them (Chinese characters may)."""
    return rf"(?<![a-z])(?:{words})(?![a-z])"


_PUSH = r"push(?:es|ing)?|zoom(?:s|ing)?|dolly(?:ing)?|mov(?:e|es|ing)|clos(?:e|es|ing)"
_PULL = r"pull(?:s|ing)?|zoom(?:s|ing)?|dolly(?:ing)?|mov(?:e|es|ing)"
_TRACK = r"pan(?:s|ning)?|track(?:s|ing)?|truck(?:s|ing)?|mov(?:e|es|ing)"
_TILT = r"tilt(?:s|ing)?|crane(?:s|ing)?|pedestal(?:ing)?"

# Explicit directions win over single hints; within a tier the one mentioned first wins.
_EXPLICIT: tuple[tuple[CameraMove, str], ...] = (
    ("push_in", "推近|推进|推镜|拉近|前推|放大|" + _en(rf"(?:{_PUSH}) in")),
    ("pull_out", "拉远|拉开|后拉|拉出|缩小|" + _en(rf"(?:{_PULL}) (?:out|back)")),
    ("pan_left", "左移|左摇|向左|往左|" + _en(rf"(?:{_TRACK}) (?:to the )?left")),
    ("pan_right", "右移|右摇|向右|往右|" + _en(rf"(?:{_TRACK}) (?:to the )?right")),
    ("tilt_up", "上摇|上仰|向上|往上|上移|" + _en(rf"(?:{_TILT}) up")),
    ("tilt_down", "下摇|下俯|向下|往下|下移|俯拍|" + _en(rf"(?:{_TILT}) down")),
    ("static", "固定|静止|不动|" + _en(r"static|still|fixed|locked[- ]off|stationary|no (?:camera )?movement")),
)
_HINTS: tuple[tuple[CameraMove, str], ...] = (
    ("push_in", "推|近|特写|" + _en("push|zoom|dolly|close[- ]?up")),
    ("pull_out", "拉|远|" + _en("pull")),
    ("pan_left", "左|" + _en("left")),
    ("pan_right", "右|" + _en("right|pan")),
    ("tilt_up", "上|" + _en("(?<!close[- ])up|tilt")),
    ("tilt_down", "下|" + _en("down")),
)
_SEEDED_MOVES: tuple[CameraMove, ...] = tuple(move for move in CAMERA_MOVES if move != "static")


class KenBurnsClipMaker:
    backend = "preview"
    model = "ken-burns-v1"

    async def animate(self, request: ClipRequest, dest: Path, ctx: StageContext) -> Clip:
        ctx.raise_if_cancelled()
        _validate(request)
        move = camera_move(request.camera, request.seed)
        ctx.progress(1.0)
        return StillMotion(move=move, zoom=1.0 if move == "static" else MOVE_ZOOM)

    async def status(self) -> BackendStatus:
        return BackendStatus(
            stage="clips",
            backend=self.backend,
            model=self.model,
            ready=True,
            detail="pan/zoom over the keyframe, rendered when the shot is composed",
        )


def camera_move(camera: str, seed: int) -> CameraMove:
    """The move a free-text camera direction asks for; a seed-chosen move when it names none."""
    text = camera.lower()
    for tier in (_EXPLICIT, _HINTS):
        found = _first_mentioned(text, tier)
        if found is not None:
            return found
    return _SEEDED_MOVES[seed % len(_SEEDED_MOVES)]


def _first_mentioned(text: str, patterns: tuple[tuple[CameraMove, str], ...]) -> CameraMove | None:
    matches = [(match.start(), move) for move, pattern in patterns if (match := re.search(pattern, text))]
    return min(matches)[1] if matches else None


def _validate(request: ClipRequest) -> None:
    if not (math.isfinite(request.duration) and request.duration > 0):
        raise InvalidRequest(f"clip duration must be positive, got {request.duration}", param="duration")
    if not request.keyframe.is_file():
        raise BackendError(
            f"the keyframe {request.keyframe} does not exist", stage="clips", backend=KenBurnsClipMaker.backend
        )
