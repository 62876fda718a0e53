"""Operations: idempotency on the row's key, per-user ids, events, cancel, takeover and interruption."""

from __future__ import annotations

import asyncio
import time

import pytest

from story2video.errors import BackendError, Conflict, InvalidRequest, NotFound, QueueFull, QueueUnavailable
from story2video.jobs.keys import OperationKey
from story2video.jobs.leases import LeaseSweeper
from story2video.jobs.operations import OperationService
from story2video.jobs.runner import LocalJobRunner
from story2video.jobs.states import OperationStatus, ShotState
from tests.jobs.conftest import RecordingRunner


def submit(service: OperationService, user_id: str, operation_id: str, body: dict, kind: str = "test"):
    return service.submit(operation_id=operation_id, kind=kind, user_id=user_id, story_id="s", body=body)


async def settle(service: OperationService, key: OperationKey, timeout: float = 5.0):
    return await service.wait(key, timeout)


def run(service: OperationService, main) -> None:
    async def wrapped():
        service.events.hub.bind_loop(asyncio.get_running_loop())
        await main()

    asyncio.run(wrapped())


def test_an_operation_runs_once_and_the_same_request_returns_it(local_service: OperationService) -> None:
    calls = []

    async def work(tracker) -> dict:
        calls.append(tracker.key)
        return {"done": tracker.operation_id}

    local_service.executor = work

    async def main():
        first = submit(local_service, "u", "op", {"n": 1})
        again = submit(local_service, "u", "op", {"n": 1})
        assert again.operation_id == first.operation_id
        record = await settle(local_service, OperationKey("u", "op"))
        assert record.status == "Success" and record.result == {"done": "op"} and record.progress == 1.0
        assert submit(local_service, "u", "op", {"n": 1}).status == "Success"  # answered from the row, not run again
        with pytest.raises(Conflict):
            submit(local_service, "u", "op", {"n": 2})

    run(local_service, main)
    assert calls == [OperationKey("u", "op")]


def test_two_replicas_receiving_one_id_at_once_make_one_operation(service_factory) -> None:
    a, b = RecordingRunner(), RecordingRunner()
    replica_a, replica_b = service_factory(a), service_factory(b)
    first = submit(replica_a, "u", "op", {"n": 1})
    real_get, reads = replica_b.repo.get, []

    def read_before_a_inserted(*key):  # only the primary key can tell the two requests apart
        reads.append(key)
        return None if len(reads) == 1 else real_get(*key)

    replica_b.repo.get = read_before_a_inserted
    second = submit(replica_b, "u", "op", {"n": 1})
    assert len(reads) == 2
    assert (second.operation_id, second.created_at) == (first.operation_id, first.created_at)
    assert len(a.submitted) == 1 and b.submitted == []  # enqueued once
    with pytest.raises(Conflict):
        submit(replica_b, "u", "op", {"n": 2})


def test_operation_ids_are_per_user(local_service: OperationService) -> None:
    async def work(tracker) -> dict:
        return {"user": tracker.record.user_id}

    local_service.executor = work

    async def main():
        submit(local_service, "u-a", "op", {"n": 1})
        submit(local_service, "u-b", "op", {"n": 2})  # another user's body: no conflict
        await settle(local_service, OperationKey("u-a", "op"))
        await settle(local_service, OperationKey("u-b", "op"))

    run(local_service, main)
    assert local_service.find("op", "u-a").result == {"user": "u-a"}
    assert local_service.find("op", "u-b").result == {"user": "u-b"}
    with pytest.raises(InvalidRequest) as ambiguous:
        local_service.find("op", None)
    assert ambiguous.value.param == "user_id"
    with pytest.raises(NotFound):
        local_service.find("op", "u-c")


def test_events_are_stored_in_order_and_kept_apart_per_user(local_service: OperationService) -> None:
    async def work(tracker) -> dict:
        tracker.enter_stage("work")
        return {}

    local_service.executor = work

    async def main():
        seen_by_a = local_service.events.hub.subscribe(OperationKey("u-a", "op"))
        submit(local_service, "u-b", "op", {})
        await settle(local_service, OperationKey("u-b", "op"))
        assert seen_by_a.empty()
        submit(local_service, "u-a", "op", {})
        await settle(local_service, OperationKey("u-a", "op"))
        assert not seen_by_a.empty()

    run(local_service, main)
    events = local_service.events.since(OperationKey("u-a", "op"), 0)
    assert [event.type for event in events] == ["operation.started", "stage", "operation.completed"]
    ids = [event.seq for event in events]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert [e.type for e in local_service.events.since(OperationKey("u-a", "op"), ids[0])] == ["stage", "operation.completed"]


def test_a_refused_enqueue_ends_the_operation_instead_of_leaving_it_queued(service_factory) -> None:
    runner = RecordingRunner()

    def refuse(key, attempt):
        raise QueueUnavailable("the work queue (CELERY_BROKER_URL) cannot be reached: connection refused")

    runner.submit = refuse
    service = service_factory(runner)
    with pytest.raises(QueueUnavailable):
        submit(service, "u", "op", {})
    record = service.get(OperationKey("u", "op"))
    assert record.status == "Failed" and record.error["code"] == "queue_unavailable"


def test_cancel_of_a_queued_operation_ends_it_at_once_and_revokes_its_tasks(service_factory) -> None:
    runner = RecordingRunner()
    service = service_factory(runner)
    submit(service, "u", "op", {})
    record = service.cancel(OperationKey("u", "op"))
    assert record.status == "Cancelled" and record.error["code"] == "operation_cancelled"
    assert [r.operation_id for r in runner.revoked] == ["op"]
    with pytest.raises(Conflict):
        service.cancel(OperationKey("u", "op"))


def test_a_cancel_sent_to_another_replica_stops_the_work_here(service_factory) -> None:
    worker = service_factory(RecordingRunner(), worker_id="worker")
    replica = service_factory(RecordingRunner(), worker_id="api")
    key = OperationKey("u", "op")
    submit(replica, "u", "op", {})
    stopped = []

    async def work(tracker) -> dict:
        while not tracker.is_cancelled():
            worker.pull_remote_changes()  # the heartbeat does this every second
            await asyncio.sleep(0.01)
        stopped.append(True)
        tracker.context().raise_if_cancelled()
        return {}

    async def main():
        async with worker.working_on(key, 0, "task-1") as tracker:
            running = asyncio.create_task(worker.perform(tracker, work))
            while worker.get(key).status != "Running":
                await asyncio.sleep(0.01)
            assert replica.cancel(key).status == "Cancelled"  # at once: the worker stops at its next heartbeat
            await running

    run(worker, main)
    assert stopped == [True]
    assert worker.get(key).status == "Cancelled" and [r.operation_id for r in replica.runner.revoked] == ["op"]


def test_a_taken_over_attempt_changes_nothing_and_the_new_attempt_finishes(service_factory) -> None:
    runner = RecordingRunner()
    old_worker = service_factory(runner, worker_id="old")
    new_worker = service_factory(RecordingRunner(), worker_id="new")
    key = OperationKey("u", "op")
    submit(old_worker, "u", "op", {})

    async def main():
        async with old_worker.working_on(key, 0, "t-old") as old:
            old.start()
            assert new_worker.take_over(key, 0)  # its lease expired: the sweep gave it a new attempt
            old.enter_stage("work")  # the old process, still running, writes: nothing lands
            old.succeed({"from": "old"})
            assert old.stale
        async with new_worker.working_on(key, 0, "t-late") as late:
            assert late is None  # a task of the old attempt that arrives now does nothing
        async with new_worker.working_on(key, 1, "t-new") as new:
            await new_worker.perform(new, _returns({"from": "new"}))

    run(new_worker, main)
    record = new_worker.get(key)
    assert record.status == "Success" and record.result == {"from": "new"} and record.attempt == 1
    types = [event.type for event in new_worker.events.since(key, 0)]
    assert types.count("operation.completed") == 1 and "operation.resumed" in types


def _returns(result: dict):
    async def work(tracker) -> dict:
        return result

    return work


def test_shots_written_by_two_processes_are_both_kept(service_factory) -> None:
    one, two = service_factory(RecordingRunner(), worker_id="one"), service_factory(RecordingRunner(), worker_id="two")
    key = OperationKey("u", "op")
    submit(one, "u", "op", {}, kind="shots")

    async def main():
        async with one.working_on(key, 0, "plan") as planner:
            planner.start()
            planner.set_shot("a", ShotState.WAITING)
            planner.set_shot("b", ShotState.WAITING)
            planner.enter_stage("shots", ["a", "b"])
        async with one.working_on(key, 0, "a") as a, two.working_on(key, 0, "b") as b:
            a.set_shot("a", ShotState.DONE, video_url="/a.mp4")
            b.set_shot("b", ShotState.WORKING, step="clip")

    run(one, main)
    record = one.get(key)
    assert record.shots["a"]["state"] == "done" and record.shots["b"]["state"] == "working"
    assert record.progress == pytest.approx(0.4)  # shots stage is 0.8 of the bar; one of two shots done


def test_failure_and_crash_end_the_operation_with_a_reason(local_service: OperationService) -> None:
    async def fails(tracker) -> dict:
        raise BackendError("the model said no", backend="fake")

    async def crashes(tracker) -> dict:
        raise KeyError("oops")

    async def main():
        local_service.executor = fails
        submit(local_service, "u", "a", {})
        failed = await settle(local_service, OperationKey("u", "a"))
        local_service.executor = crashes
        submit(local_service, "u", "b", {})
        crashed = await settle(local_service, OperationKey("u", "b"))
        assert failed.status == "Failed" and failed.error["code"] == "backend_error"
        assert crashed.status == "Failed" and "KeyError" in crashed.error["message"]

    run(local_service, main)


def test_an_expired_lease_is_interrupted_and_a_live_one_is_left_alone(service_factory) -> None:
    dead = service_factory(RecordingRunner(), worker_id="dead", ttl_s=1)
    alive = service_factory(RecordingRunner(), worker_id="alive", ttl_s=60)
    for name in ("lost", "live"):
        submit(dead if name == "lost" else alive, "u", name, {})
    dead.leases.take(OperationKey("u", "lost"), 0, "t1")
    alive.leases.take(OperationKey("u", "live"), 0, "t2")
    time.sleep(1.1)
    sweeper = LeaseSweeper(alive.leases.repo, alive.interrupt, interval_s=1)
    assert sweeper.sweep_once() == 1
    lost, live = alive.get(OperationKey("u", "lost")), alive.get(OperationKey("u", "live"))
    assert lost.status == "Failed" and lost.error["code"] == "interrupted"
    assert live.status == "Queued"
    assert sweeper.sweep_once() == 0  # the expired lease is gone


def test_start_up_interrupts_unfinished_operations_nobody_holds(service_factory) -> None:
    service = service_factory(RecordingRunner())
    submit(service, "u", "orphan", {})
    submit(service, "u", "held", {})
    service.leases.take(OperationKey("u", "held"), 0, "t")
    assert service.recover_after_restart(every_unfinished=False) == 1
    assert service.get(OperationKey("u", "orphan")).status == "Failed"
    assert service.get(OperationKey("u", "held")).status == "Queued"


def test_a_restart_on_a_locked_sqlite_file_interrupts_even_leased_operations(service_factory) -> None:
    service = service_factory(RecordingRunner())
    submit(service, "u", "held", {})
    service.leases.take(OperationKey("u", "held"), 0, "t")  # by the process that died moments ago
    assert service.recover_after_restart(every_unfinished=True) == 1
    assert service.get(OperationKey("u", "held")).status == "Failed"
    assert service.leases.repo.holders("u", "held") == []


def test_wait_returns_when_another_process_ends_the_operation(service_factory) -> None:
    api = service_factory(RecordingRunner(), worker_id="api")
    worker = service_factory(RecordingRunner(), worker_id="worker")
    key = OperationKey("u", "op")
    submit(api, "u", "op", {})

    async def main():
        waiting = asyncio.create_task(api.wait(key, 10))
        async with worker.working_on(key, 0, "t") as tracker:
            await worker.perform(tracker, _returns({"ok": True}))
        started = time.monotonic()
        record = await waiting
        assert record.status == "Success" and time.monotonic() - started < 2

    run(api, main)


def test_local_runner_queue_limit_is_checked_before_anything_is_stored(service_factory) -> None:
    service = service_factory(LocalJobRunner(max_running=1, max_queued=0, retry_after_s=2))
    release = asyncio.Event()

    async def work(tracker) -> dict:
        await release.wait()
        return {}

    service.executor = work

    async def main():
        submit(service, "u", "a", {})
        await asyncio.sleep(0.05)
        with pytest.raises(QueueFull):
            submit(service, "u", "b", {})
        with pytest.raises(NotFound):
            service.get(OperationKey("u", "b"))
        release.set()
        await settle(service, OperationKey("u", "a"))

    run(service, main)
