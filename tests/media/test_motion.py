"""The move's geometry (``window``, ``seen_throughout``, ``source_reach``) against the frames rendered
for it (``stillframes``, encoded by FFmpeg), and the smoothness of those frames."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import ffmpeg as ff
import pytest
from PIL import Image, ImageChops, ImageStat

from story2video.media.ffmpeg import run_ffmpeg
from story2video.media.motion import Box, seen_throughout, source_reach, window
from story2video.media.stillframes import fitted_still, moving_frames, raw_frames_input
from story2video.providers.base import CAMERA_MOVES, StageContext, StillMotion

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


def render_frames(
    ffmpeg: Path, still: Path, motion: StillMotion, folder: Path, frames: int = FRAMES
) -> list[Image.Image]:
    """The move's frames as the segment graph gets them (raw frames piped into FFmpeg), as PNGs."""
    fitted = asyncio.run(fitted_still(ffmpeg, still, *SIZE, folder / "still.yuv", StageContext()))
    pattern = folder / f"{motion.move}-%03d.png"
    args = ff.output(raw_frames_input(*SIZE, 24), str(pattern), frames=frames, pix_fmt="rgb24").get_args()
    asyncio.run(run_ffmpeg(ffmpeg, args, stdin=moving_frames(fitted, motion, frames)))
    return [Image.open(folder / f"{motion.move}-{n:03d}.png").convert("L") for n in range(1, frames + 1)]


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


def write_blob(path: Path) -> Path:
    """A soft bright disc on black, away from the edges every window leaves out."""
    picture = Image.new("L", SIZE)
    centre_x, centre_y, radius = SIZE[0] / 2, SIZE[1] / 2, 24.0
    picture.putdata([
        round(255 * max(0.0, 1 - ((x - centre_x) ** 2 + (y - centre_y) ** 2) / radius**2) ** 2)
        for y in range(SIZE[1]) for x in range(SIZE[0])
    ])
    picture.save(path)
    return path


def centroid_x(frame: Image.Image) -> float:
    width = frame.size[0]
    weights = [0.0] * width
    for index, value in enumerate(frame.getdata()):
        weights[index % width] += max(0, value - 20)  # above the limited range's black and its noise
    return sum(x * w for x, w in enumerate(weights)) / sum(weights)


def test_a_slow_pan_moves_the_same_sub_pixel_step_every_frame(ffmpeg_bin: Path, tmp_path: Path) -> None:
    # 48 frames of a 1.25 pan: the picture moves 80 px, 1.70 px a frame. A window on whole source pixels
    # (zoompan) would step 1.25 or 2.5 px; frames rendered at sub-pixel precision step evenly.
    frames = render_frames(ffmpeg_bin, write_blob(tmp_path / "blob.png"), StillMotion("pan_right", zoom=ZOOM), tmp_path, 48)
    positions = [centroid_x(frame) for frame in frames]
    steps = [after - before for before, after in zip(positions, positions[1:])]
    expected = -(SIZE[0] * (ZOOM - 1)) / (len(frames) - 1)  # the window goes right: the picture goes left
    assert all(abs(step - expected) < 0.05 for step in steps), (expected, min(steps), max(steps))
