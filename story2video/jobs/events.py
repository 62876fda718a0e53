"""Per-operation event fan-out to SSE subscribers, safe to feed from worker threads.

Subscribers are keyed by the operation's ``OperationKey`` (user and id): two users' operations
with the same id never see each other's events.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from story2video.jobs.keys import OperationKey

SUBSCRIBER_BUFFER = 1000


@dataclass(frozen=True)
class Event:
    seq: int
    type: str
    data: dict


class EventHub:
    def __init__(self) -> None:
        self._subscribers: dict[OperationKey, set[asyncio.Queue[Event]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def subscribe(self, key: OperationKey) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(SUBSCRIBER_BUFFER)
        self._subscribers.setdefault(key, set()).add(queue)
        return queue

    def unsubscribe(self, key: OperationKey, queue: asyncio.Queue[Event]) -> None:
        queues = self._subscribers.get(key)
        if queues is None:
            return
        queues.discard(queue)
        if not queues:
            del self._subscribers[key]

    def subscriber_count(self, key: OperationKey) -> int:
        return len(self._subscribers.get(key, ()))

    def publish(self, key: OperationKey, event: Event) -> None:
        """Deliver on the event loop's thread; from any other thread the call is handed over."""
        loop = self._loop
        if loop is not None and _off_loop_thread(loop):
            loop.call_soon_threadsafe(self._deliver, key, event)
        else:
            self._deliver(key, event)

    def _deliver(self, key: OperationKey, event: Event) -> None:
        for queue in list(self._subscribers.get(key, ())):
            if queue.full():
                queue.get_nowait()  # a stalled reader loses the oldest event, never blocks the worker
            queue.put_nowait(event)


def _off_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is not loop
    except RuntimeError:
        return True
