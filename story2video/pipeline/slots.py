"""The compose slots: how many FFmpeg encodes run at once, and who gets the next free one.

A plain semaphore wakes waiters in arrival order, so four renders submitted together interleave their
segments and each finishes about when the last one does. Here a free slot goes to the waiter with the
lowest rank instead: ``(first_come, -seconds)``, the operation that came first, and within it the
longest piece of work (a render's longest segments start first, so its last segment is a short one).

An operation also overtakes slots held by later ones: when every slot is taken and one of them is
held for an operation that came after the asking one, the asker starts at once, one slot over the
capacity per such holder. The later holder's FFmpeg runs in the idle class (``story2video.turns``), so
the cores stay the earlier operation's; without this, a render whose last segment has just freed its
slot would find it taken by a later render and wait a whole segment for its own join.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class RankedSlots:
    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("there must be at least one compose slot")
        self._capacity = capacity
        self._holders: Counter[float] = Counter()  # first_come of each slot's operation
        self._waiting: list[tuple[float, float, int, asyncio.Future[None]]] = []  # (first_come, -seconds, arrival, turn)
        self._arrivals = itertools.count()

    @asynccontextmanager
    async def slot(self, first_come: float, seconds: float = 0.0) -> AsyncIterator[None]:
        """Hold a slot for work of ``seconds`` (output length) of an operation that came at ``first_come``."""
        await self._acquire(first_come, seconds)
        try:
            yield
        finally:
            self._release(first_come)

    @property
    def capacity(self) -> int:
        return self._capacity

    def waiting(self) -> int:
        return sum(1 for *_, turn in self._waiting if not turn.done())

    def held(self) -> int:
        return sum(self._holders.values())

    async def _acquire(self, first_come: float, seconds: float) -> None:
        if (self.held() < self._capacity and not self.waiting()) or self._may_overtake(first_come):
            self._holders[first_come] += 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (first_come, -seconds, next(self._arrivals), turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release(first_come)  # the slot was handed over as the waiter was cancelled: pass it on
            raise

    def _may_overtake(self, first_come: float) -> bool:
        later = sum(count for holder, count in self._holders.items() if holder > first_come)
        return later > self.held() - self._capacity

    def _release(self, first_come: float) -> None:
        self._holders[first_come] -= 1
        if not self._holders[first_come]:
            del self._holders[first_come]
        if self.held() >= self._capacity:
            return  # an overtaking slot ends: the others stay as they are
        while self._waiting:
            waiter, *_, turn = heapq.heappop(self._waiting)
            if not turn.done():
                self._holders[waiter] += 1
                turn.set_result(None)
                return
