"""An operation service over a real SQLite database, with the local runner or a runner that only records."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from story2video.jobs.events import EventHub, EventLog
from story2video.jobs.keys import OperationKey
from story2video.jobs.leases import LeaseKeeper
from story2video.jobs.operations import OperationService
from story2video.jobs.runner import JobRunner, LocalJobRunner, QueueLoad
from story2video.storage.db import Database, open_database
from story2video.storage.events import EventRepository
from story2video.storage.leases import LeaseRepository
from story2video.storage.operations import OperationRepository
from story2video.storage.records import OperationRecord

STAGES = {"test": [("work", 1.0)], "shots": [("shots", 0.8), ("final", 0.2)]}


class RecordingRunner:
    """A runner of another host (an API replica): it executes nothing, only records what it was handed."""

    holds_queued = False

    def __init__(self) -> None:
        self.submitted: list[tuple[OperationKey, int]] = []
        self.revoked: list[OperationRecord] = []

    def attach(self, execute) -> None:
        pass

    def check_capacity(self) -> None:
        pass

    def submit(self, key: OperationKey, attempt: int) -> None:
        self.submitted.append((key, attempt))

    def revoke(self, record: OperationRecord) -> None:
        self.revoked.append(record)

    def load(self) -> QueueLoad:
        return QueueLoad(running=0, waiting=len(self.submitted))

    async def shutdown(self) -> None:
        pass


def build_service(db: Database, runner: JobRunner, worker_id: str = "w1", ttl_s: float = 30.0) -> OperationService:
    events = EventLog(EventRepository(db), EventHub())
    keeper = LeaseKeeper(LeaseRepository(db), worker_id, ttl_s)
    return OperationService(OperationRepository(db), events, runner, keeper, STAGES)


@pytest.fixture
def database(tmp_path: Path) -> Database:
    db = open_database("", tmp_path / "db.sqlite3")
    yield db
    db.close()


@pytest.fixture
def local_service(database: Database) -> OperationService:
    return build_service(database, LocalJobRunner(max_running=2, max_queued=10, retry_after_s=1))


@pytest.fixture
def service_factory(database: Database) -> Callable[..., OperationService]:
    return lambda runner, **kwargs: build_service(database, runner, **kwargs)
