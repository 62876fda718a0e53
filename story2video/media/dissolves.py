"""The pictures of a crossfade, mixed in this process from the raw frames at the segments' edges.

A transition (``transitions``) shows the last ``fade`` frames of the segment it leaves mixed with the
first ``fade`` frames of the next one, as the segments show them (subtitles burned in). Frame k is
``left * (1 - k / fade) + right * k / fade``: what FFmpeg's ``xfade=fade`` draws, which the whole
re-encode of segments that cannot be cut uses, so both joins show the same dissolve. Mixing here
(OpenCV, SIMD) costs ~0.5 ms per 720p frame against ~4 ms for ``xfade``.

The edge frames are raw yuv420p files, a segment's ``fade`` frames each. A segment encoded by this
render writes them in its own FFmpeg run (``edge_outputs``: the encoder's picture split off, no
decoding); for a segment from the cache they are decoded from its file (``decode_edges``), from the
IDR its crossfade put there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import ffmpeg as ff
import numpy as np
from ffmpeg.nodes import FilterableStream, OutputStream

from story2video.errors import MediaError
from story2video.media.encoding import RenderProfile, render, seek_time
from story2video.stagecontext import StageContext

cv2.setNumThreads(1)


@dataclass(frozen=True)
class Edges:
    """Where a segment's run writes its first (``head``) and last (``tail``) frames of a crossfade; None: not wanted."""

    head: Path | None = None
    tail: Path | None = None

    @classmethod
    def in_folder(cls, folder: Path, index: int, segments: int) -> "Edges":
        """Where segment ``index`` of ``segments`` writes its edges in ``folder``: a head unless it is
        the first, a tail unless it is the last."""
        return cls(
            head=folder / f"head{index}.yuv" if index > 0 else None,
            tail=folder / f"tail{index}.yuv" if index < segments - 1 else None,
        )

    def paths(self) -> list[Path]:
        return [path for path in (self.head, self.tail) if path is not None]


@dataclass(frozen=True)
class EdgeSource:
    """``count`` frames of ``segment`` from frame ``first`` (an IDR), to be decoded into ``dest``."""

    segment: Path
    first: int
    count: int
    dest: Path


def edge_outputs(picture: FilterableStream, frames: int, fade: int, edges: Edges) -> tuple[FilterableStream, list[OutputStream]]:
    """A segment's finished ``picture`` (``frames`` long) split in two: the stream to encode, and the
    outputs writing its edges raw."""
    wanted = [(path, first) for path, first in ((edges.head, 0), (edges.tail, frames - fade)) if path is not None]
    if not fade or not wanted:
        return picture, []
    branches = picture.filter_multi_output("split", len(wanted) + 1)
    writes = [
        _raw_output(branches[index + 1].trim(start_frame=first, end_frame=first + fade), path)
        for index, (path, first) in enumerate(wanted)
    ]
    return branches[0], writes


async def decode_edges(ffmpeg: Path, sources: list[EdgeSource], profile: RenderProfile, ctx: StageContext) -> None:
    """Decode each source's frames to its raw file, in one FFmpeg run."""
    if not sources:
        return
    outputs = [
        _raw_output(ff.input(str(source.segment), ss=seek_time(source.first, profile)).video, source.dest, source.count)
        for source in sources
    ]
    await render(ffmpeg, ff.merge_outputs(*outputs).get_args(), [source.dest for source in sources], ctx, 0.0, progress=False)


def dissolved_frames(tail: Path, head: Path, fade: int, width: int, height: int) -> Iterator[memoryview]:
    """The ``fade`` frames dissolving the raw ``tail`` edge of one segment into the ``head`` edge of the next."""
    leaving, coming = _edge(tail, fade, width, height), _edge(head, fade, width, height)
    for index in range(fade):
        frame = np.empty(leaving.shape[1], dtype=np.uint8)
        weight = index / fade
        cv2.addWeighted(leaving[index], 1.0 - weight, coming[index], weight, 0.0, dst=frame)
        yield memoryview(frame)


def _edge(path: Path, fade: int, width: int, height: int) -> np.ndarray:
    frame_bytes = width * height + 2 * (width // 2) * (height // 2)
    size = path.stat().st_size if path.exists() else 0
    if size != fade * frame_bytes:
        raise MediaError(f"the crossfade's edge {path.name} holds {size} bytes, not {fade} {width}x{height} frames")
    return np.memmap(path, dtype=np.uint8, mode="r").reshape(fade, frame_bytes)


def _raw_output(stream: FilterableStream, dest: Path, count: int | None = None) -> OutputStream:
    limit = {"frames:v": count} if count is not None else {}
    return ff.output(stream, str(dest), f="rawvideo", pix_fmt="yuv420p", fps_mode="passthrough", **limit)
