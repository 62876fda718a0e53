"""One user's notifications: every event of every one of their operations, as JSON messages, plus seed
001's ``segment_finished`` / ``segment_failed`` where an event ends one of its segments.

Like the SSE stream of one operation, the messages are read from the database, where every process
(this one, or a worker of SERVICE_ROLE=api) stores its events; the hub only wakes the reader early
(locally, or through the Redis relay), and without it the reader looks again every second.

Seed 001's five segments map onto our operations (docs/api.md, "Notifications"):

    storyboard.create  1 Story (+ 3 Split: the shots and their lines)  when its keyframes stage starts
                       2 Image                                          when it completes
    shot.regenerate    2 Image                                          when it completes
    video.render       5 Video (4 Speech is made per shot on the way)   when it completes

A failed or cancelled operation fails the segment it was in.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import AsyncIterator, Callable

from story2video.api.sse import woken
from story2video.errors import NotFound
from story2video.jobs.events import Event
from story2video.jobs.keys import OperationKey
from story2video.jobs.operations import OperationService
from story2video.jobs.states import OperationKind

LOOKBACK_S = 5.0
PAGE = 1000  # events read at once (the repository's limit)
SEGMENT_STORY, SEGMENT_IMAGE, SEGMENT_VIDEO = 1, 2, 5
FAILED_EVENTS = ("operation.failed", "operation.cancelled")


@dataclass(frozen=True)
class OperationFacts:
    kind: str
    story_id: str


def segment_messages(key: OperationKey, facts: OperationFacts, event: Event) -> list[dict]:
    """Seed 001's message(s) for one event: none unless the event ends (or fails) a segment.
    ``resources`` are relative links, made absolute by the caller."""
    kind, data = facts.kind, event.data
    head = {"task_id": key.operation_id, "operation_id": key.operation_id, "kind": kind, "story_id": facts.story_id, "event_id": event.seq}
    story_link = f"/api/v1/stories/{facts.story_id}?user_id={key.user_id}"
    if event.type == "stage" and kind == OperationKind.CREATE_STORYBOARD.value and data.get("stage") == "keyframes":
        return [{"type": "segment_finished", **head, "segment_id": SEGMENT_STORY, "status": "completed", "resources": [story_link]}]
    if event.type == "operation.completed":
        result = data.get("result") or {}
        if kind == OperationKind.CREATE_STORYBOARD.value:
            segment, resources = SEGMENT_IMAGE, [shot.get("image_url") for shot in result.get("shots", [])]
        elif kind == OperationKind.REGENERATE_SHOT.value:
            segment, resources = SEGMENT_IMAGE, [(result.get("shot") or {}).get("image_url")]
        else:
            segment, resources = SEGMENT_VIDEO, [result.get("video_url"), result.get("subtitles_url")]
        return [{"type": "segment_finished", **head, "segment_id": segment, "status": "completed", "resources": [r for r in resources if r]}]
    if event.type in FAILED_EVENTS:
        error = data.get("error") or {}
        return [{"type": "segment_failed", **head, "segment_id": _segment_of_failure(kind, error.get("stage")), "status": "failed",
                 "error": error.get("message") or event.type, "code": error.get("code")}]  # fmt: skip
    return []


def _segment_of_failure(kind: str, stage: str | None) -> int:
    if kind == OperationKind.CREATE_STORYBOARD.value:
        return SEGMENT_STORY if stage in (None, "queued", "storyboard") else SEGMENT_IMAGE
    if kind == OperationKind.REGENERATE_SHOT.value:
        return SEGMENT_IMAGE
    return SEGMENT_VIDEO


def event_message(key: OperationKey, facts: OperationFacts, event: Event) -> dict:
    """The event itself, shaped as its SSE ``data`` (plus its type, id and operation)."""
    return {"type": event.type, "event_id": event.seq, "operation_id": key.operation_id, "kind": facts.kind, "story_id": facts.story_id, **event.data}


async def user_notifications(
    user_id: str, operations: OperationService, absolutize: Callable[[dict], dict], after: int
) -> AsyncIterator[dict]:
    """Every message for ``user_id`` after the event id ``after``, until the caller stops.

    Event ids are taken when an event is written and become visible when its transaction commits, so
    on PostgreSQL, with several writers, a lower id can appear just after a higher one. The reader
    therefore reads again from below every id it sent within the last ``LOOKBACK_S`` and skips what it
    already sent: an event that commits that late still arrives, once.
    """
    hub = operations.events.hub
    wake = hub.subscribe_user(user_id)  # before the first read, so nothing falls between the two
    facts: dict[OperationKey, OperationFacts | None] = {}
    sent: dict[int, float] = {}  # event id -> when it was sent, for the ids above ``floor``
    floor = after
    try:
        while True:
            events = await asyncio.to_thread(operations.events.since_for_user, user_id, floor)
            new = [(key, event) for key, event in events if event.seq not in sent]
            for key, event in new:
                sent[event.seq] = time.monotonic()
                known = facts.get(key) if key in facts else await asyncio.to_thread(_facts, operations, key)
                facts[key] = known
                if known is None:
                    continue  # deleted since (retention): nothing to say about it
                yield absolutize(event_message(key, known, event))
                for message in segment_messages(key, known, event):
                    yield absolutize(message)
            floor = _raise_floor(floor, sent, time.monotonic() - LOOKBACK_S)
            if len(events) >= PAGE and not new:  # a whole page sent already: look past it
                floor = max(floor, events[-1][1].seq)
            if new:
                continue  # there may be more than one page
            await woken(wake)
    finally:
        hub.unsubscribe_user(user_id, wake)


def _raise_floor(floor: int, sent: dict[int, float], before: float) -> int:
    """The ids sent before ``before`` need no second look: the floor rises to the highest id below
    which everything was sent that long ago, and those ids are forgotten."""
    for event_id in sorted(sent):
        if sent[event_id] >= before:
            break
        floor = max(floor, event_id)
        del sent[event_id]
    return floor


def _facts(operations: OperationService, key: OperationKey) -> OperationFacts | None:
    try:
        record = operations.get(key)
    except NotFound:
        return None
    return OperationFacts(record.kind, record.story_id)
