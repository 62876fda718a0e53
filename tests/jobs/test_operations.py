from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from story2video.errors import Conflict, InvalidRequest, NotFound
from story2video.jobs import operations
from story2video.jobs.events import EventHub
from story2video.jobs.keys import OperationKey
from story2video.jobs.operations import OperationService
from story2video.jobs.runner import LocalJobRunner
from story2video.jobs.states import OperationStatus
from story2video.storage.db import Database
from story2video.storage.operations import OperationRepository


class CountingRepository(OperationRepository):
    def __init__(self, db: Database):
        super().__init__(db)
        self.reads = 0

    def get(self, user_id: str, operation_id: str):
        self.reads += 1
        return super().get(user_id, operation_id)


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
        tracker = service.get(OperationKey("u", f"op{index}"))
        assert tracker.status is OperationStatus.SUCCESS
    assert service.repo.reads == reads


def test_older_finished_operations_are_read_from_the_database(service: OperationService, monkeypatch) -> None:
    monkeypatch.setattr(operations, "RECENTLY_FINISHED", 2)
    finish_operations(service, 5)
    reads = service.repo.reads
    assert service.get(OperationKey("u", "op0")).status is OperationStatus.SUCCESS  # evicted: read back
    assert service.repo.reads == reads + 1
    service.get(OperationKey("u", "op4"))
    assert service.repo.reads == reads + 1


def _submit(service: OperationService, user_id: str, operation_id: str, body: dict, work):
    return service.submit(operation_id=operation_id, kind="test", user_id=user_id, story_id="s", body=body, stages=[], work=work)


def test_operation_ids_are_per_user(service: OperationService) -> None:
    async def main() -> None:
        service.hub.bind_loop(asyncio.get_running_loop())
        release = asyncio.Event()

        async def work(tracker) -> dict:
            await release.wait()
            return {"user": tracker.record.user_id}

        a = _submit(service, "u-a", "op", {"n": 1}, work)
        b = _submit(service, "u-b", "op", {"n": 2}, work)  # another user's body: still no conflict
        assert a is not b and a.key != b.key
        assert _submit(service, "u-b", "op", {"n": 2}, work) is b  # same user, same body: the same operation
        with pytest.raises(Conflict):
            _submit(service, "u-b", "op", {"n": 3}, work)
        service.cancel(OperationKey("u-b", "op"))
        release.set()
        await a.wait()
        await b.wait()
        assert a.status is OperationStatus.SUCCESS and a.record.result == {"user": "u-a"}
        assert b.status is OperationStatus.CANCELLED

    asyncio.run(main())
    assert service.find("op", "u-a").record.result == {"user": "u-a"}
    assert service.find("op", "u-b").status is OperationStatus.CANCELLED
    with pytest.raises(InvalidRequest) as ambiguous:
        service.find("op", None)
    assert ambiguous.value.param == "user_id"
    with pytest.raises(NotFound):
        service.find("op", "u-c")


def test_an_id_one_user_has_is_found_without_the_user(service: OperationService) -> None:
    finish_operations(service, 1)
    assert service.find("op0", None).key == OperationKey("u", "op0")
    with pytest.raises(NotFound):
        service.find("op0", "someone-else")
    with pytest.raises(NotFound):
        service.find("op-never", None)


def test_events_of_one_users_operation_never_reach_another_users_subscriber(service: OperationService) -> None:
    async def main() -> None:
        service.hub.bind_loop(asyncio.get_running_loop())
        seen_by_a = service.hub.subscribe(OperationKey("u-a", "op"))

        async def work(tracker) -> dict:
            return {}

        await _submit(service, "u-b", "op", {}, work).wait()
        assert seen_by_a.empty()
        await _submit(service, "u-a", "op", {}, work).wait()
        assert not seen_by_a.empty()

    asyncio.run(main())
