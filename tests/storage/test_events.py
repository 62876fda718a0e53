"""Operation events: ids in order per database, read after an id, pruned by age and status."""

from __future__ import annotations

import time

import pytest

from story2video.storage.db import Database
from story2video.storage.events import EventRepository
from story2video.storage.operations import OperationRepository
from story2video.storage.records import OperationRecord

UNFINISHED = ("Queued", "Running")


@pytest.fixture
def events(db: Database) -> EventRepository:
    return EventRepository(db)


def test_events_read_back_in_order_after_an_id(events: EventRepository):
    ids = [events.append("u", "op", "stage", {"n": n, "text": "中文"}) for n in range(5)]
    events.append("u", "other-op", "stage", {})
    assert ids == sorted(ids) and len(set(ids)) == 5
    after = events.since("u", "op", ids[1])
    assert [event.event_id for event in after] == ids[2:]
    assert [event.data for event in after] == [{"n": n, "text": "中文"} for n in (2, 3, 4)]
    assert after[0].type == "stage" and after[0].created_at <= time.time()
    assert [event.event_id for event in events.since("u", "op", 0, limit=2)] == ids[:2]
    assert events.since("v", "op", 0) == []


def test_last_id_is_the_newest_or_zero(events: EventRepository):
    assert events.last_id("u", "op") == 0
    events.append("u", "op", "a", {})
    newest = events.append("u", "op", "b", {})
    events.append("u", "other", "c", {})
    assert events.last_id("u", "op") == newest


def test_prune_keeps_the_events_of_unfinished_operations_and_recent_ones(db: Database, events: EventRepository):
    operations = OperationRepository(db)
    for operation_id, status in (("running", "Running"), ("done", "Success")):
        operations.insert(OperationRecord(operation_id, "test", "u", "s", "h", {}, status, "stage", 0.0))
    for operation_id in ("running", "done", "gone"):
        events.append("u", operation_id, "old", {})
    cutoff = time.time() + 1
    assert events.prune(older_than=cutoff, keep_statuses=UNFINISHED) == 2
    assert [event.type for event in events.since("u", "running", 0)] == ["old"]
    assert events.since("u", "done", 0) == [] and events.since("u", "gone", 0) == []
    assert events.prune(older_than=cutoff - 3600) == 0
    assert events.prune(older_than=cutoff) == 1
