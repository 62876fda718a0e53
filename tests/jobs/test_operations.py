from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from story2video.jobs import operations
from story2video.jobs.events import EventHub
from story2video.jobs.operations import OperationService
from story2video.jobs.runner import LocalJobRunner
from story2video.jobs.states import OperationStatus
from story2video.storage.db import Database
from story2video.storage.operations import OperationRepository


class CountingRepository(OperationRepository):
    def __init__(self, db: Database):
        super().__init__(db)
        self.reads = 0

    def get(self, operation_id: str):
        self.reads += 1
        return super().get(operation_id)


def finish_operations(service: OperationService, count: int) -> None:
    async def main() -> None:
        service.hub.bind_loop(asyncio.get_running_loop())

        async def work(tracker) -> dict:
            return {"done": tracker.operation_id}

        for index in range(count):
            service.submit(
                operation_id=f"op{index}", kind="test", user_id="u", story_id="s", body={"n": index}, stages=[], work=work
            )
        while service.runner.load() != (0, 0):
            await asyncio.sleep(0.01)

    asyncio.run(main())


@pytest.fixture
def service(tmp_path: Path) -> OperationService:
    repo = CountingRepository(Database(tmp_path / "db.sqlite"))
    return OperationService(repo, EventHub(), LocalJobRunner(max_running=2, max_queued=10, retry_after_s=1))


def test_recently_finished_operations_are_answered_from_memory(service: OperationService) -> None:
    finish_operations(service, 3)
    reads = service.repo.reads
    for index in range(3):
        tracker = service.get(f"op{index}")
        assert tracker.status is OperationStatus.SUCCESS
    assert service.repo.reads == reads


def test_older_finished_operations_are_read_from_the_database(service: OperationService, monkeypatch) -> None:
    monkeypatch.setattr(operations, "RECENTLY_FINISHED", 2)
    finish_operations(service, 5)
    reads = service.repo.reads
    assert service.get("op0").status is OperationStatus.SUCCESS  # evicted: read back
    assert service.repo.reads == reads + 1
    service.get("op4")
    assert service.repo.reads == reads + 1
