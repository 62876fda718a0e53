"""The move's geometry (``window``, ``seen_throughout``, ``source_reach``) against what FFmpeg renders."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import ffmpeg as ff
import pytest
from PIL import Image, ImageChops, ImageStat

from story2video.media.ffmpeg import run_ffmpeg
from story2video.media.motion import Box, camera_move, cover_fit, seen_throughout, source_reach, window
from story2video.providers.base import CAMERA_MOVES, StillMotion

SIZE = (320, 180)
FRAMES = 9
ZOOM = 1.25


def write_blocks(path: Path) -> Path:
    """A smooth, irregular grey picture (no chroma for yuv420p to blur): any shift shows."""
    rng = random.Random(5)
    small = Image.new("L", (16, 9))
    small.putdata([rng.randrange(256) for _ in range(16 * 9)])
    small.resize(SIZE, Image.Resampling.BICUBIC).save(path)
    return path


def render_frames(ffmpeg: Path, still: Path, motion: StillMotion, folder: Path) -> list[Image.Image]:
    stream = cover_fit(ff.input(str(still)).video, *SIZE)
    stream = stream.filter("loop", loop=FRAMES - 1, size=1, start=0).filter("setpts", "N")
    pattern = folder / f"{motion.move}-%02d.png"
    args = ff.output(camera_move(stream, motion, FRAMES), str(pattern), frames=FRAMES, pix_fmt="rgb24").get_args()
    asyncio.run(run_ffmpeg(ffmpeg, args))
    return [Image.open(folder / f"{motion.move}-{n:02d}.png").convert("L") for n in range(1, FRAMES + 1)]


def shown(still: Image.Image, box: Box) -> Image.Image:
    width, height = still.size
    crop = (box.left * width, box.top * height, box.right * width, box.bottom * height)
    return still.resize(SIZE, Image.Resampling.BILINEAR, box=crop)


def difference(a: Image.Image, b: Image.Image) -> float:
    return ImageStat.Stat(ImageChops.difference(a, b)).mean[0]


@pytest.mark.parametrize("move", [move for move in CAMERA_MOVES if move != "static"])
def test_window_is_what_ffmpeg_shows_on_the_first_middle_and_last_frame(ffmpeg_bin: Path, tmp_path: Path, move) -> None:
    still_path = write_blocks(tmp_path / "still.png")
    still = Image.open(still_path).convert("L")
    motion = StillMotion(move, zoom=ZOOM)
    frames = render_frames(ffmpeg_bin, still_path, motion, tmp_path)
    for index in (0, FRAMES // 2, FRAMES - 1):
        progress = index / (FRAMES - 1)
        expected = difference(frames[index], shown(still, window(motion, progress)))
        reversed_move = difference(frames[index], shown(still, window(motion, 1 - progress)))
        assert expected < 4.0, (index, expected)
        if index != FRAMES // 2:
            assert reversed_move > 3 * expected, (index, expected, reversed_move)


def test_seen_throughout_is_the_part_no_pan_or_tilt_leaves() -> None:
    box = seen_throughout(1.12)
    spare = 1 - 1 / 1.12
    assert (box.left, box.top, box.right, box.bottom) == pytest.approx((spare, spare, 1 - spare, 1 - spare))
    for move in CAMERA_MOVES:
        for progress in (0.0, 0.3, 0.5, 0.8, 1.0):
            w = window(StillMotion(move, 1.12), progress)
            assert w.left <= box.left and w.top <= box.top and w.right >= box.right and w.bottom >= box.bottom


def test_source_reach_of_the_bottom_band_is_lowest_during_a_tilt() -> None:
    band = Box(0.0, 0.8, 1.0, 1.0)
    reach = source_reach(band, 1.12)
    assert reach.top == pytest.approx(0.8 / 1.12)  # a tilt's top window: the band shows source rows from 0.8/1.12
    for move in CAMERA_MOVES:
        for progress in (0.0, 0.5, 1.0):
            w = window(StillMotion(move, 1.12), progress)
            assert w.top + band.top * (w.bottom - w.top) >= reach.top - 1e-9
