"""Per-operation event fan-out to SSE subscribers, safe to feed from worker threads."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

SUBSCRIBER_BUFFER = 1000


@dataclass(frozen=True)
class Event:
    seq: int
    type: str
    data: dict


class EventHub:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[Event]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def subscribe(self, operation_id: str) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(SUBSCRIBER_BUFFER)
        self._subscribers.setdefault(operation_id, set()).add(queue)
        return queue

    def unsubscribe(self, operation_id: str, queue: asyncio.Queue[Event]) -> None:
        queues = self._subscribers.get(operation_id)
        if queues is None:
            return
        queues.discard(queue)
        if not queues:
            del self._subscribers[operation_id]

    def subscriber_count(self, operation_id: str) -> int:
        return len(self._subscribers.get(operation_id, ()))

    def publish(self, operation_id: str, event: Event) -> None:
        """Deliver on the event loop's thread; from any other thread the call is handed over."""
        loop = self._loop
        if loop is not None and _off_loop_thread(loop):
            loop.call_soon_threadsafe(self._deliver, operation_id, event)
        else:
            self._deliver(operation_id, event)

    def _deliver(self, operation_id: str, event: Event) -> None:
        for queue in list(self._subscribers.get(operation_id, ())):
            if queue.full():
                queue.get_nowait()  # a stalled reader loses the oldest event, never blocks the worker
            queue.put_nowait(event)


def _off_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is not loop
    except RuntimeError:
        return True
