"""Crossfades encoded while the render's other segments still encode.

The join re-encodes only the frames that dissolve (``media.transitions``). The transition between two
neighbouring segments can be encoded as soon as both exist, so a render starts it then, under a
compose slot ranked after the operation's longer segments: it fills the cores that the last segments
leave idle, and after the last segment the join has little left to encode.

A transition starts early only when at least one of its two segments was encoded by this render (when
both came from the cache the finished video may exist as well, and the join decides whether it is needed)
and both are longer than the crossfade (else the join refuses the crossfade with a clear error).

A segment this render encodes also writes the frames its crossfades dissolve (``edges``), raw, into
the render's folder, so its transitions mix them without decoding; each edge is deleted once its
transition is encoded. A segment from the cache has none: its edge is decoded from its file.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from story2video.media.dissolves import Edges
from story2video.media.encoding import RenderProfile
from story2video.media.transitions import encode_transition
from story2video.pipeline.deps import PipelineDeps
from story2video.stagecontext import StageContext


@dataclass(frozen=True)
class _Segment:
    path: Path
    frames: int
    encoded_now: bool  # by this render, not found in the cache


class EarlyCrossfades:
    def __init__(
        self,
        deps: PipelineDeps,
        profile: RenderProfile,
        crossfade: float,
        segments: int,
        folder: Path,
        *,
        first_come: float,
        threads: int,
        ctx: StageContext,
    ):
        self._deps, self._profile, self._folder, self._ctx = deps, profile, folder, ctx
        self._fade = profile.fade_frames(crossfade) if segments > 1 else 0
        self._first_come, self._threads = first_come, threads
        self._segments = segments
        self._done: dict[int, _Segment] = {}
        self._tasks: dict[int, asyncio.Task[Path]] = {}

    def edges(self, index: int) -> Edges | None:
        """Where segment ``index``, if this render encodes it, writes the frames of its crossfades."""
        return Edges.in_folder(self._folder, index, self._segments) if self._fade else None

    def segment_done(self, index: int, path: Path, seconds: float, *, encoded_now: bool) -> None:
        """Segment ``index`` exists: start the transitions it completes."""
        if not self._fade:
            return
        self._done[index] = _Segment(path, self._profile.frames(seconds), encoded_now)
        for left in (index - 1, index):
            if left not in self._tasks and self._worth_starting(left):
                self._tasks[left] = asyncio.ensure_future(self._encode(left, self._done[left], self._done[left + 1]))

    def _worth_starting(self, left: int) -> bool:
        pair = [self._done.get(left), self._done.get(left + 1)]
        return all(pair) and any(s.encoded_now for s in pair) and all(s.frames > self._fade for s in pair)  # type: ignore[union-attr]

    async def _encode(self, index: int, left: _Segment, right: _Segment) -> Path:
        dest = self._folder / f"transition{index}.mp4"
        tail = Edges.in_folder(self._folder, index, self._segments).tail
        head = Edges.in_folder(self._folder, index + 1, self._segments).head
        assert tail is not None and head is not None  # a transition lies between two segments
        written = (tail if left.encoded_now else None, head if right.encoded_now else None)
        try:
            async with self._deps.compose_slots.slot(self._first_come, self._fade / self._profile.fps):
                return await encode_transition(
                    self._deps.ffmpeg, left.path, right.path, left.frames, self._fade, self._profile, dest, self._ctx,
                    threads=self._threads, edges=written,
                )
        finally:
            tail.unlink(missing_ok=True)
            head.unlink(missing_ok=True)

    def made(self) -> asyncio.Future[dict[int, Path]]:
        """The transitions started so far, by the index of the segment they leave, once all are encoded:
        the join cuts the segments meanwhile."""
        return asyncio.ensure_future(self._all_made())

    async def _all_made(self) -> dict[int, Path]:
        return dict(zip(self._tasks, await asyncio.gather(*self._tasks.values())))

    async def cancel(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
