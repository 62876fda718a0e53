from __future__ import annotations

import asyncio

import pytest
from loguru import logger

from story2video.errors import QueueFull
from story2video.jobs.keys import OperationKey
from story2video.jobs.runner import LocalJobRunner


def test_runs_at_most_max_running_and_rejects_beyond_queue():
    async def main():
        runner = LocalJobRunner(max_running=2, max_queued=1, retry_after_s=3)
        release = asyncio.Event()
        active, peak = 0, 0

        async def work():
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            await release.wait()
            active -= 1

        for index in range(3):
            runner.submit(f"op{index}", work)
        await asyncio.sleep(0.01)
        assert runner.load() == (2, 1)
        with pytest.raises(QueueFull) as rejected:
            runner.submit("op3", work)
        assert rejected.value.retry_after == 3
        release.set()
        await asyncio.sleep(0.05)
        assert runner.load() == (0, 0) and peak == 2

    asyncio.run(main())


def test_shutdown_cancels_running_work():
    async def main():
        runner = LocalJobRunner(max_running=1, max_queued=5, retry_after_s=1)
        cancelled = asyncio.Event()

        async def work():
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        runner.submit("op", work)
        await asyncio.sleep(0.01)
        await runner.shutdown()
        assert cancelled.is_set() and runner.load() == (0, 0)

    asyncio.run(main())


def test_after_each_runs_once_per_finished_operation_even_a_crashed_one():
    async def main():
        calls: list[tuple[int, int]] = []
        runner = LocalJobRunner(max_running=2, max_queued=5, retry_after_s=1, after_each=lambda: calls.append(runner.load()))

        async def work():
            await asyncio.sleep(0.01)

        async def crash():
            raise RuntimeError("boom")

        runner.submit("ok", work)
        runner.submit("crash", crash)
        while runner.load() != (0, 0):
            await asyncio.sleep(0.01)
        assert len(calls) == 2
        assert calls[-1][0] == 0  # the last one ran after both had given up their slots

    asyncio.run(main())


def test_a_failing_after_each_is_logged_and_the_runner_keeps_going():
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="ERROR", format="{message}")

    async def main():
        runner = LocalJobRunner(max_running=1, max_queued=5, retry_after_s=1, after_each=lambda: 1 / 0)
        done = []

        async def work():
            done.append(1)

        for index in range(2):
            runner.submit(f"op{index}", work)
        while runner.load() != (0, 0):
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

        runner.submit(OperationKey("u-a", "op"), work("u-a"))
        runner.submit(OperationKey("u-b", "op"), work("u-b"))
        await asyncio.sleep(0.01)
        assert runner.load() == (1, 1)
        await runner.shutdown()  # reaches both: neither job hid the other
        assert sorted(cancelled) == ["u-a"] and runner.load() == (0, 0)

    asyncio.run(main())
