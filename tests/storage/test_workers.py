"""Registered workers and their heartbeats, on both databases."""

from __future__ import annotations

import time

from story2video.storage.db import Database
from story2video.storage.workers import WorkerRepository


def test_register_beat_live_remove(db: Database):
    workers = WorkerRepository(db)
    workers.register("w-1", "host-a", ["story2video.operations", "story2video.gpu"], 2)
    workers.register("w-2", "host-b", ["story2video.compose"], 4)
    db.execute("UPDATE workers SET heartbeat_at=? WHERE worker_id='w-2'", (time.time() - 120,))

    live = workers.live(within_s=60)
    assert [worker.worker_id for worker in live] == ["w-1"]
    assert (live[0].hostname, live[0].queues, live[0].concurrency) == ("host-a", ["story2video.operations", "story2video.gpu"], 2)
    assert live[0].started_at <= live[0].heartbeat_at

    assert workers.beat("w-2") is True
    assert [worker.worker_id for worker in workers.live(within_s=60)] == ["w-1", "w-2"]
    assert workers.remove("w-2") is True and workers.beat("w-2") is False and workers.remove("w-2") is False


def test_registering_again_starts_the_worker_anew(db: Database):
    workers = WorkerRepository(db)
    workers.register("w-1", "host-a", ["q"], 1)
    first = workers.live(60)[0]
    workers.register("w-1", "host-c", ["q", "r"], 3)
    [again] = workers.live(60)
    assert (again.hostname, again.queues, again.concurrency) == ("host-c", ["q", "r"], 3)
    assert again.started_at >= first.started_at
