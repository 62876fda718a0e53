"""The compose slots: how many FFmpeg encodes run at once, and who gets the next free one.

A plain semaphore wakes waiters in arrival order, so four renders submitted together interleave their
segments and each finishes about when the last one does. Here a free slot goes to the waiter with the
lowest rank instead: ``(first_come, -seconds)``, the operation that came first, and within it the
longest piece of work (a render's longest segments start first, so its last segment is a short one).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class RankedSlots:
    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("there must be at least one compose slot")
        self._free = capacity
        self._waiting: list[tuple[float, float, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    @asynccontextmanager
    async def slot(self, first_come: float, seconds: float = 0.0) -> AsyncIterator[None]:
        """Hold a slot for work of ``seconds`` (output length) of an operation that came at ``first_come``."""
        await self._acquire(first_come, seconds)
        try:
            yield
        finally:
            self._release()

    def waiting(self) -> int:
        return sum(1 for *_, turn in self._waiting if not turn.done())

    async def _acquire(self, first_come: float, seconds: float) -> None:
        if self._free > 0 and not self.waiting():
            self._free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (first_come, -seconds, next(self._arrivals), turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # the slot was handed over as the waiter was cancelled: pass it on
            raise

    def _release(self) -> None:
        while self._waiting:
            *_, turn = heapq.heappop(self._waiting)
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1
