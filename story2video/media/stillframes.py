"""The pan/zoom move over a still, rendered in this process and fed to FFmpeg as raw yuv420p frames.

A move is a scale plus a translation, so each frame is one affine resampling of a sub-pixel window
of the still: OpenCV's ``warpAffine`` (bilinear, SIMD, the window's edges as floats) on each plane of
the still, which FFmpeg has scaled once to the output size and converted to the output's yuv420p.
Measured on 1280x720 (2 cores, one thread): ~0.45 ms per frame for any move, against 2.5-6.7 ms for
Pillow's separable resampler and ~6 ms for FFmpeg's ``perspective`` (a projective table rebuilt
every frame) in the filter graph this replaces; and it runs in a thread of this process, beside the
encoder. The window moves continuously (no whole-pixel steps as with ``zoompan``; OpenCV places it
to 1/32 pixel), so slow moves stay smooth; subtitles are burned in by FFmpeg afterwards, over the
moved picture.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import ffmpeg as ff
import numpy as np
from ffmpeg.nodes import FilterableStream

from story2video.errors import MediaError
from story2video.media.cliptypes import StillMotion
from story2video.media.encoding import as_encoded, render
from story2video.media.motion import Box, cover_fit, window
from story2video.stagecontext import StageContext

cv2.setNumThreads(1)  # one frame is too little work to share out; the encoder has the other cores


@dataclass(frozen=True)
class Still:
    """A picture as the three planes of one yuv420p frame (Y full size, U and V half size)."""

    width: int
    height: int
    planes: tuple[np.ndarray, np.ndarray, np.ndarray]

    @classmethod
    def from_yuv420p(cls, data: bytes, width: int, height: int) -> "Still":
        luma, chroma = width * height, (width // 2) * (height // 2)
        if width % 2 or height % 2 or len(data) != luma + 2 * chroma:
            raise MediaError(f"expected one {width}x{height} yuv420p frame, got {len(data)} bytes")
        frame = np.frombuffer(data, dtype=np.uint8)
        half = (height // 2, width // 2)
        return cls(width, height, (
            frame[:luma].reshape(height, width),
            frame[luma : luma + chroma].reshape(half),
            frame[luma + chroma :].reshape(half),
        ))


async def fitted_still(ffmpeg: Path, keyframe: Path, width: int, height: int, dest: Path, ctx: StageContext) -> Still:
    """``keyframe`` cover-fitted to ``width`` x ``height`` (Lanczos, BT.709 yuv420p) by one FFmpeg run
    writing ``dest`` (raw), read back as planes."""
    picture = cover_fit(ff.input(str(keyframe)).video, width, height, flags="lanczos")
    args = ff.output(picture, str(dest), f="rawvideo", pix_fmt="yuv420p", **{"frames:v": 1}).get_args()
    await render(ffmpeg, args, [dest], ctx, 0.0, progress=False)
    return Still.from_yuv420p(dest.read_bytes(), width, height)


def moving_frames(still: Still, motion: StillMotion, frames: int) -> Iterator[memoryview]:
    """Each of ``frames`` frames in order, as one yuv420p buffer: the window of ``motion`` at
    progress 0 on the first frame and 1 on the last, resampled to the still's size."""
    luma, chroma = still.planes[0].size, still.planes[1].size
    for index in range(frames):
        box = window(motion, index / (frames - 1) if frames > 1 else 0.0)
        frame = np.empty(luma + 2 * chroma, dtype=np.uint8)
        outputs = (frame[:luma], frame[luma : luma + chroma], frame[luma + chroma :])
        for plane, output in zip(still.planes, outputs):
            height, width = plane.shape
            cv2.warpAffine(
                plane, _window_matrix(box, width, height), (width, height), dst=output.reshape(height, width),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE,
            )
        yield memoryview(frame)


def _window_matrix(box: Box, width: int, height: int) -> np.ndarray:
    """Where each output pixel's centre lies in the plane (OpenCV counts pixel centres from 0): the
    window's left edge plus (x + 0.5) of its pixel widths, less half a pixel."""
    across, down = box.right - box.left, box.bottom - box.top
    return np.array([
        [across, 0.0, box.left * width + 0.5 * across - 0.5],
        [0.0, down, box.top * height + 0.5 * down - 0.5],
    ])


def raw_frames_input(width: int, height: int, fps: int) -> FilterableStream:
    """FFmpeg's side of ``moving_frames``: raw yuv420p on stdin, tagged BT.709 limited range (as the
    still was converted), so filters that draw on it (subtitles) pick the right colours."""
    return as_encoded(ff.input("pipe:0", f="rawvideo", pix_fmt="yuv420p", s=f"{width}x{height}", framerate=fps).video)
