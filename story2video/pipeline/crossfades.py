"""Crossfades encoded while the render's other segments still encode.

The join re-encodes only the frames that dissolve (``media.transitions``). The transition between two
neighbouring segments can be encoded as soon as both exist, so a render starts it then, under a
compose slot ranked after the operation's longer segments: it fills the cores that the last segments
leave idle, and after the last segment the join has little left to encode.

A transition starts early only when at least one of its two segments was encoded by this render: when
both came from the cache the finished video may exist as well, and the join decides whether it is needed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from story2video.media.encoding import RenderProfile
from story2video.media.transitions import encode_transition
from story2video.pipeline.deps import PipelineDeps
from story2video.stagecontext import StageContext


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
        self._done: dict[int, tuple[Path, float, bool]] = {}  # index -> (segment file, seconds, encoded by this render)
        self._tasks: dict[int, asyncio.Task[Path]] = {}

    def segment_done(self, index: int, path: Path, seconds: float, *, encoded_now: bool) -> None:
        """Segment ``index`` exists: start the transitions it completes."""
        if not self._fade:
            return
        self._done[index] = (path, seconds, encoded_now)
        for left in (index - 1, index):
            if left in self._done and left + 1 in self._done and left not in self._tasks:
                (left_path, left_seconds, left_new), (right_path, _, right_new) = self._done[left], self._done[left + 1]
                if left_new or right_new:
                    self._tasks[left] = asyncio.ensure_future(self._encode(left, left_path, left_seconds, right_path))

    async def _encode(self, index: int, left: Path, left_seconds: float, right: Path) -> Path:
        dest = self._folder / f"transition{index}.mp4"
        async with self._deps.compose_slots.slot(self._first_come, self._fade / self._profile.fps):
            return await encode_transition(
                self._deps.ffmpeg, left, right, self._profile.frames(left_seconds), self._fade, self._profile, dest, self._ctx,
                threads=self._threads,
            )

    async def made(self) -> dict[int, Path]:
        """The transitions started so far, once all are encoded (by the index of the segment they leave)."""
        return dict(zip(self._tasks, await asyncio.gather(*self._tasks.values())))

    async def cancel(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
