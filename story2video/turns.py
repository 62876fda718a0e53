"""Whose turn it is on this machine's cores: the operation submitted first is served first.

An operation is *behind* while an operation submitted before it is still running in this process.
Compose slots already go first come, first served (``pipeline.slots``); but once work runs, the OS
shares the cores between everything runnable, so a later render's encodes and its preview backends'
speech and card painting would slow an earlier render down. So:

- FFmpeg started for an operation that is behind runs in Linux's idle class (``chrt --idle``; at
  ``BEHIND_NICENESS`` where ``chrt`` is missing) instead of at ``FFMPEG_NICENESS`` (``media.ffmpeg``):
  it gets a core only when the earlier operations leave one free, however many later renders there are.
  (Niceness alone would not do: the weights of niceness 10 and 19 are 110 and 15, so six later
  FFmpeg runs would together take 30 % of the cores from two earlier ones.)
- CPU-bound work of the preview backends (``in_thread``) runs, for an operation that is behind, in
  threads that have raised their own niceness to ``BEHIND_NICENESS``. A thread may lower its own
  priority but not raise it again, so those threads are kept for such work only. They stay in the
  normal class: a thread of this process that the idle class kept off the cores while it held the
  GIL would stall the service's event loop.

The priority is chosen when the work starts; work already running keeps it when the earlier
operation ends.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from loguru import logger

from story2video.stagecontext import StageContext

BEHIND_NICENESS = 19
_T = TypeVar("_T")


class Turns:
    def __init__(self) -> None:
        self._running: Counter[float] = Counter()
        self._lock = threading.Lock()
        self._behind_pool: ThreadPoolExecutor | None = None

    @contextmanager
    def running(self, first_come: float) -> Iterator[None]:
        """The operation submitted at ``first_come`` runs here until the block ends."""
        with self._lock:
            self._running[first_come] += 1
        try:
            yield
        finally:
            with self._lock:
                self._running[first_come] -= 1
                if not self._running[first_come]:
                    del self._running[first_come]

    def behind(self, ctx: StageContext | None) -> bool:
        """Whether the work of ``ctx`` waits behind an operation that came before it."""
        first_come = None if ctx is None else ctx.first_come
        if first_come is None:
            return False
        with self._lock:
            return any(other < first_come for other in self._running)

    async def in_thread(self, ctx: StageContext, work: Callable[..., _T], *args: object) -> _T:
        """``work(*args)`` in a worker thread: the usual one, or a lowered one when ``ctx`` is behind."""
        if not self.behind(ctx):
            return await asyncio.to_thread(work, *args)
        call = functools.partial(contextvars.copy_context().run, work, *args)  # the log context, as to_thread does
        return await asyncio.get_running_loop().run_in_executor(self._lowered_pool(), call)

    def _lowered_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._behind_pool is None:
                self._behind_pool = ThreadPoolExecutor(
                    max_workers=os.cpu_count() or 1, thread_name_prefix="behind", initializer=_lower_own_priority
                )
            return self._behind_pool


def _lower_own_priority() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BEHIND_NICENESS)
    except OSError as exc:  # a platform without per-thread niceness: the work runs at the process's priority
        logger.warning("could not lower the priority of a thread for later operations' work: {}", exc)


turns = Turns()  # one per process: the cores are the process's (and the machine's) to share
