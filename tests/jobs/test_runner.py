from __future__ import annotations

import asyncio

import pytest
from loguru import logger

from story2video.errors import QueueFull
from story2video.jobs.keys import OperationKey
from story2video.jobs.runner import LocalJobRunner


def runner_of(runner: LocalJobRunner, works: dict) -> LocalJobRunner:
    """The runner, executing each key with the work registered for it in ``works``."""
    runner.attach(lambda key: works[key]())
    return runner


def submit(runner: LocalJobRunner, works: dict, key, work) -> None:
    works[key] = work
    runner.submit(key, 0)


def load(runner: LocalJobRunner) -> tuple[int, int]:
    current = runner.load()
    return current.running, current.waiting


def test_runs_at_most_max_running_and_rejects_beyond_queue():
    async def main():
        runner = LocalJobRunner(max_running=2, max_queued=1, retry_after_s=3)
        works: dict = {}
        runner_of(runner, works)
        release = asyncio.Event()
        active, peak = 0, 0

        async def work():
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            await release.wait()
            active -= 1

        for index in range(3):
            submit(runner, works, f"op{index}", work)
        await asyncio.sleep(0.01)
        assert load(runner) == (2, 1)
        with pytest.raises(QueueFull) as rejected:
            submit(runner, works, "op3", work)
        assert rejected.value.retry_after == 3
        release.set()
        await asyncio.sleep(0.05)
        assert load(runner) == (0, 0) and peak == 2

    asyncio.run(main())


def test_shutdown_cancels_running_work():
    async def main():
        runner = LocalJobRunner(max_running=1, max_queued=5, retry_after_s=1)
        works: dict = {}
        runner_of(runner, works)
        cancelled = asyncio.Event()

        async def work():
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        submit(runner, works, "op", work)
        await asyncio.sleep(0.01)
        await runner.shutdown()
        assert cancelled.is_set() and load(runner) == (0, 0)

    asyncio.run(main())


def test_after_each_runs_once_per_finished_operation_even_a_crashed_one():
    async def main():
        calls: list[tuple[int, int]] = []
        runner = LocalJobRunner(max_running=2, max_queued=5, retry_after_s=1, after_each=lambda: calls.append(load(runner)))
        works: dict = {}
        runner_of(runner, works)

        async def work():
            await asyncio.sleep(0.01)

        async def crash():
            raise RuntimeError("boom")

        submit(runner, works, "ok", work)
        submit(runner, works, "crash", crash)
        while load(runner) != (0, 0):
            await asyncio.sleep(0.01)
        assert len(calls) == 2
        assert calls[-1][0] == 0  # the last one ran after both had given up their slots

    asyncio.run(main())


def test_a_failing_after_each_is_logged_and_the_runner_keeps_going():
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="ERROR", format="{message}")

    async def main():
        runner = LocalJobRunner(max_running=1, max_queued=5, retry_after_s=1, after_each=lambda: 1 / 0)
        works: dict = {}
        runner_of(runner, works)
        done = []

        async def work():
            done.append(1)

        for index in range(2):
            submit(runner, works, f"op{index}", work)
        while load(runner) != (0, 0):
            await asyncio.sleep(0.01)
        assert done == [1, 1]

    try:
        asyncio.run(main())
    finally:
        logger.remove(sink)
    assert sum("the after-operation hook failed after operation" in line for line in lines) == 2


def test_two_users_operations_with_one_id_are_two_jobs():
    async def main():
        runner = LocalJobRunner(max_running=1, max_queued=5, retry_after_s=1)
        works: dict = {}
        runner_of(runner, works)
        release = asyncio.Event()
        cancelled: list[str] = []

        def work(user: str):
            async def run():
                try:
                    await release.wait()
                except asyncio.CancelledError:
                    cancelled.append(user)
                    raise

            return run

        submit(runner, works, OperationKey("u-a", "op"), work("u-a"))
        submit(runner, works, OperationKey("u-b", "op"), work("u-b"))
        await asyncio.sleep(0.01)
        assert load(runner) == (1, 1)
        await runner.shutdown()  # reaches both: neither job hid the other
        assert sorted(cancelled) == ["u-a"] and load(runner) == (0, 0)

    asyncio.run(main())
