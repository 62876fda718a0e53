"""Server-Sent Events for one operation: a snapshot first, then every change until it finishes."""

from __future__ import annotations

import asyncio
import json
from typing import AsyncIterator

from story2video.jobs.events import Event, EventHub
from story2video.jobs.keys import OperationKey
from story2video.jobs.operations import OperationService
from story2video.presenters import operation_view

KEEPALIVE_S = 15.0
TERMINAL_EVENTS = {"operation.completed", "operation.failed", "operation.cancelled"}


def format_event(event_type: str, data: dict, event_id: int | None = None) -> str:
    lines = [f"event: {event_type}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False))
    return "\n".join(lines) + "\n\n"


async def operation_events(key: OperationKey, operations: OperationService, hub: EventHub, absolutize) -> AsyncIterator[str]:
    queue = hub.subscribe(key)  # before the snapshot, so nothing falls between the two
    try:
        tracker = operations.get(key)
        yield format_event("snapshot", absolutize(operation_view(tracker.record)))
        if tracker.status.is_terminal:
            return
        while True:
            try:
                event: Event = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_S)
            except asyncio.TimeoutError:
                yield ": keep-alive\n\n"
                continue
            yield format_event(event.type, absolutize({"operation_id": key.operation_id, **event.data}), event.seq)
            if event.type in TERMINAL_EVENTS:
                return
    finally:
        hub.unsubscribe(key, queue)
