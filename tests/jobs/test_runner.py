from __future__ import annotations

import asyncio

import pytest

from story2video.errors import QueueFull
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
