"""Server-Sent Events for one operation: a snapshot first, then every change until it finishes.

Events are read from the database, where every process stores them, so a stream on any API replica
sees the work of every worker, and ``Last-Event-ID`` resumes exactly after the event a client saw
last, wherever it saw it. The hub only wakes a stream when an event arrives; without one, it looks
again every second.
"""

from __future__ import annotations

import asyncio
import json
from typing import AsyncIterator

from story2video.errors import InvalidRequest
from story2video.jobs.events import Event
from story2video.jobs.keys import OperationKey
from story2video.jobs.operations import OperationService
from story2video.jobs.states import OperationStatus
from story2video.presenters import operation_view

KEEPALIVE_S = 15.0
POLL_S = 1.0
TERMINAL_EVENTS = {"operation.completed", "operation.failed", "operation.cancelled"}


def format_event(event_type: str, data: dict, event_id: int | None = None) -> str:
    lines = [f"event: {event_type}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False))
    return "\n".join(lines) + "\n\n"


def resume_after(last_event_id: str | None) -> int | None:
    """The event id a reconnecting client saw last (its ``Last-Event-ID`` header), or None."""
    if last_event_id is None or not last_event_id.strip():
        return None
    try:
        value = int(last_event_id.strip())
    except ValueError:
        raise InvalidRequest("Last-Event-ID must be the id of an event of this stream (a whole number)", param="Last-Event-ID") from None
    if value < 0:
        raise InvalidRequest("Last-Event-ID must not be negative", param="Last-Event-ID")
    return value


async def operation_events(
    key: OperationKey, operations: OperationService, absolutize, after: int | None = None
) -> AsyncIterator[str]:
    if after is None:
        record, after = await asyncio.to_thread(_snapshot, operations, key)
        yield format_event("snapshot", absolutize(operation_view(record)))
        if OperationStatus(record.status).is_terminal:
            return
    async for event in stored_events(key, operations, after):
        yield ": keep-alive\n\n" if event is None else _format(key, event, absolutize)


async def stored_events(key: OperationKey, operations: OperationService, after: int) -> AsyncIterator[Event | None]:
    """The operation's events after the id ``after``, as they are stored, until its terminal event;
    None now and then while nothing happens (time for a keep-alive)."""
    hub = operations.events.hub
    wake = hub.subscribe(key)  # before the first read, so nothing falls between the two
    try:
        quiet = 0.0
        while True:
            events = await asyncio.to_thread(operations.events.since, key, after)
            for event in events:
                after = event.seq
                yield event
                if event.type in TERMINAL_EVENTS:
                    return
            if events:
                quiet = 0.0
            elif quiet >= KEEPALIVE_S:
                quiet = 0.0
                yield None
            if not events and await _ended_without_event(operations, key, after):
                return
            started = asyncio.get_running_loop().time()
            await woken(wake)
            quiet += asyncio.get_running_loop().time() - started
    finally:
        hub.unsubscribe(key, wake)


def _snapshot(operations: OperationService, key: OperationKey):
    """The operation now, and the id of the last event it contains (later events follow the snapshot)."""
    last = operations.events.last_id(key)
    return operations.get(key), last


async def _ended_without_event(operations: OperationService, key: OperationKey, after: int) -> bool:
    """An operation that ended without a stored terminal event (e.g. marked by an older version): stop."""
    record = await asyncio.to_thread(operations.get, key)
    if not OperationStatus(record.status).is_terminal:
        return False
    return not await asyncio.to_thread(operations.events.since, key, after)


def _format(key: OperationKey, event: Event, absolutize) -> str:
    return format_event(event.type, absolutize({"operation_id": key.operation_id, **event.data}), event.seq)


async def woken(wake: asyncio.Queue) -> None:
    """Wait until ``wake`` is signalled or POLL_S passes (the database is read again either way), then
    empty it: one read serves every signal that came meanwhile."""
    try:
        await asyncio.wait_for(wake.get(), timeout=POLL_S)
    except asyncio.TimeoutError:
        pass
    while not wake.empty():
        wake.get_nowait()
