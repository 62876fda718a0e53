"""The geometry of a segment's picture: cover-fit, and the pan/zoom move over a still.

A move is the window of the still each frame shows (``window``), rendered at sub-pixel precision by
``stillframes`` (FFmpeg's ``zoompan`` places its window on whole input pixels, so slow moves judder
unless the still is first upscaled several times).

``_path`` is the one description of every move: the windows the frames show and the extent a still's
picture must allow for (``seen_throughout``, ``source_reach``) are both read from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ffmpeg.nodes import FilterableStream

from story2video.media.cliptypes import CAMERA_MOVES, CameraMove, StillMotion


@dataclass(frozen=True)
class Box:
    """A rectangle as shares of the frame: 0..1 from the left and from the top."""

    left: float
    top: float
    right: float
    bottom: float


@dataclass(frozen=True)
class _Linear:
    """A value that runs linearly from ``start`` (first frame) to ``end`` (last frame)."""

    start: float
    end: float

    def at(self, progress: float) -> float:
        return self.start + (self.end - self.start) * progress


@dataclass(frozen=True)
class _Path:
    """A move as three linear parts: the magnification (the window is 1/scale of the frame) and
    where the window sits in the room that leaves (0 = left/top edge, 1 = right/bottom edge)."""

    scale: _Linear
    across: _Linear
    down: _Linear


_CENTRED, _FORWARD, _BACKWARD = _Linear(0.5, 0.5), _Linear(0.0, 1.0), _Linear(1.0, 0.0)


def _path(move: CameraMove, zoom: float) -> _Path:
    """Pans and tilts travel across the room a ``zoom`` crop leaves; push/pull zoom about the centre."""
    held = _Linear(zoom, zoom)
    paths: dict[str, _Path] = {
        "static": _Path(_Linear(1.0, 1.0), _CENTRED, _CENTRED),
        "push_in": _Path(_Linear(1.0, zoom), _CENTRED, _CENTRED),
        "pull_out": _Path(_Linear(zoom, 1.0), _CENTRED, _CENTRED),
        "pan_right": _Path(held, _FORWARD, _CENTRED),
        "pan_left": _Path(held, _BACKWARD, _CENTRED),
        "tilt_down": _Path(held, _CENTRED, _FORWARD),
        "tilt_up": _Path(held, _CENTRED, _BACKWARD),
    }
    if move not in paths:
        raise ValueError(f"unknown camera move {move!r}")
    return paths[move]


def cover_fit(stream: FilterableStream, width: int, height: int, *, flags: str = "bicubic") -> FilterableStream:
    """Scale to fill ``width`` x ``height`` and crop the overflow (centre); BT.709 yuv420p out."""
    return (
        stream.filter(
            "scale",
            width,
            height,
            force_original_aspect_ratio="increase",
            flags=flags,
            out_color_matrix="bt709",
            out_range="tv",
        )
        .filter("crop", width, height)
        .filter("setsar", 1)
        .filter("format", "yuv420p")
    )


def window(motion: StillMotion, progress: float) -> Box:
    """The visible window at ``progress`` (0 first frame .. 1 last), as shares of the source."""
    path = _path(motion.move, motion.zoom)
    side = 1.0 / path.scale.at(progress)
    left, top = (1.0 - side) * path.across.at(progress), (1.0 - side) * path.down.at(progress)
    return Box(left, top, left + side, top + side)


def _extremes(zoom: float) -> list[Box]:
    """The first and last windows of every move that zooms at most ``zoom``. Each window edge, and
    where any source point lands in the frame, moves monotonically over a move, so these bound all."""
    return [window(StillMotion(move, zoom), progress) for move in CAMERA_MOVES for progress in (0.0, 1.0)]


def seen_throughout(zoom: float) -> Box:
    """The part of a still that every frame of every move (at most ``zoom``) shows."""
    windows = _extremes(zoom)
    return Box(
        max(w.left for w in windows),
        max(w.top for w in windows),
        min(w.right for w in windows),
        min(w.bottom for w in windows),
    )


def source_reach(frame_region: Box, zoom: float) -> Box:
    """The part of a still that some frame of some move (at most ``zoom``) shows inside
    ``frame_region`` of the output: keep out of it what must never appear there."""
    boxes = [
        Box(
            w.left + frame_region.left * (w.right - w.left),
            w.top + frame_region.top * (w.bottom - w.top),
            w.left + frame_region.right * (w.right - w.left),
            w.top + frame_region.bottom * (w.bottom - w.top),
        )
        for w in _extremes(zoom)
    ]
    return Box(
        min(b.left for b in boxes), min(b.top for b in boxes), max(b.right for b in boxes), max(b.bottom for b in boxes)
    )
