"""Operation events: stored, then handed to this process's subscribers and to the other processes.

Every event is written to the database first; its row id is the event's id (the SSE ``id:``), so a
client that reconnects to any API replica with ``Last-Event-ID`` is replayed exactly what it missed.
Live delivery is a fan-out to the local subscribers (``EventHub``) plus, past one process, a relay
(Redis pub/sub) that carries each event to the hubs of the API replicas.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable, Protocol

from loguru import logger

from story2video.jobs.keys import OperationKey
from story2video.storage.events import EventRepository

SUBSCRIBER_BUFFER = 1000


@dataclass(frozen=True)
class Event:
    seq: int  # the stored event's id: increasing per operation, unique across all of them
    type: str
    data: dict


class EventRelay(Protocol):
    """Carries events to the other processes (whose relay hands them to their own hub)."""

    def send(self, key: OperationKey, event: Event) -> None: ...


class EventHub:
    """Fan-out to the subscribers in this process, safe to feed from worker threads: per operation (SSE,
    waiting requests) and per user (the notification socket, which is handed the operation's key too)."""

    def __init__(self) -> None:
        self._subscribers: dict[OperationKey, set[asyncio.Queue[Event]]] = {}
        self._user_subscribers: dict[str, set[asyncio.Queue[tuple[OperationKey, Event]]]] = {}
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

    def subscribe_user(self, user_id: str) -> asyncio.Queue[tuple[OperationKey, Event]]:
        queue: asyncio.Queue[tuple[OperationKey, Event]] = asyncio.Queue(SUBSCRIBER_BUFFER)
        self._user_subscribers.setdefault(user_id, set()).add(queue)
        return queue

    def unsubscribe_user(self, user_id: str, queue: asyncio.Queue[tuple[OperationKey, Event]]) -> None:
        queues = self._user_subscribers.get(user_id)
        if queues is None:
            return
        queues.discard(queue)
        if not queues:
            del self._user_subscribers[user_id]

    def subscriber_count(self, key: OperationKey) -> int:
        return len(self._subscribers.get(key, ()))

    def publish(self, key: OperationKey, event: Event) -> None:
        """Deliver on the event loop's thread; from any other thread the call is handed over."""
        loop = self._loop
        if loop is not None and _off_loop_thread(loop):
            if not loop.is_closed():
                loop.call_soon_threadsafe(self._deliver, key, event)
        else:
            self._deliver(key, event)

    def _deliver(self, key: OperationKey, event: Event) -> None:
        for queue in list(self._subscribers.get(key, ())):
            _put_dropping_oldest(queue, event)
        for user_queue in list(self._user_subscribers.get(key.user_id, ())):
            _put_dropping_oldest(user_queue, (key, event))


def _put_dropping_oldest(queue: asyncio.Queue, item: object) -> None:
    if queue.full():
        queue.get_nowait()  # a stalled reader loses the oldest item (streams re-read the database), never blocks the worker
    queue.put_nowait(item)


class EventLog:
    """Stores each event, then publishes it here and through the relay (when there is one)."""

    def __init__(self, repo: EventRepository, hub: EventHub, relay: EventRelay | None = None):
        self.repo = repo
        self.hub = hub
        self.relay = relay
        self.listeners: list[Callable[[OperationKey, str], None]] = []  # told of each stored event (e.g. webhooks)

    def publish(self, key: OperationKey, event_type: str, data: dict) -> Event:
        event = Event(seq=self.repo.append(key.user_id, key.operation_id, event_type, data), type=event_type, data=data)
        self.hub.publish(key, event)
        if self.relay is not None:
            self.relay.send(key, event)
        for listener in self.listeners:
            try:
                listener(key, event_type)
            except Exception:  # noqa: BLE001 - a listener's failure must not undo the event; it is logged in full
                logger.exception("a listener of operation events failed on {} of {}", event_type, key)
        return event

    def last_id(self, key: OperationKey) -> int:
        """The id of the newest stored event of ``key`` (0 when it has none)."""
        return self.repo.last_id(key.user_id, key.operation_id)

    def since(self, key: OperationKey, after: int) -> list[Event]:
        """The stored events of ``key`` after the id ``after``, oldest first."""
        return [Event(seq=stored.event_id, type=stored.type, data=stored.data) for stored in self.repo.since(key.user_id, key.operation_id, after)]

    def last_id_for_user(self, user_id: str) -> int:
        """The id of the newest stored event of any of the user's operations (0 when none)."""
        return self.repo.last_id_for_user(user_id)

    def since_for_user(self, user_id: str, after: int) -> list[tuple[OperationKey, Event]]:
        """The stored events of every operation of ``user_id`` after the id ``after``, oldest first."""
        return [
            (OperationKey(user_id, operation_id), Event(seq=stored.event_id, type=stored.type, data=stored.data))
            for operation_id, stored in self.repo.since_for_user(user_id, after)
        ]


def _off_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is not loop
    except RuntimeError:
        return True
