"""Where operations execute. Routes and stages only see the ``JobRunner`` protocol, so a distributed
engine (e.g. Celery workers) can replace ``LocalJobRunner`` without touching either."""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Protocol

from loguru import logger

from story2video.errors import QueueFull
from story2video.jobs.keys import OperationKey

Work = Callable[[], Awaitable[None]]


class JobRunner(Protocol):
    def submit(self, key: OperationKey, work: Work) -> None:
        """Accept the work or raise ``QueueFull``; never runs it inside the caller."""
        ...

    def load(self) -> tuple[int, int]:
        """(running, waiting) operations."""
        ...

    async def shutdown(self) -> None: ...


class LocalJobRunner:
    """Runs operations as asyncio tasks in this process: ``max_running`` at once, ``max_queued`` waiting.

    ``after_each`` runs in a worker thread once an operation has finished and given up its slot
    (the service trims the C heap there); what it raises is logged.
    """

    def __init__(self, max_running: int, max_queued: int, retry_after_s: int, after_each: Callable[[], object] | None = None):
        self._slots = asyncio.Semaphore(max_running)
        self._max_running = max_running
        self._max_queued = max_queued
        self._retry_after_s = retry_after_s
        self._tasks: dict[OperationKey, asyncio.Task[None]] = {}
        self._running = 0
        self._after_each = after_each

    def submit(self, key: OperationKey, work: Work) -> None:
        running, waiting = self.load()
        if running >= self._max_running and waiting >= self._max_queued:
            raise QueueFull(
                f"{running} operations are running and {waiting} are waiting (limit {self._max_queued}); retry later",
                retry_after=self._retry_after_s,
            )
        task = asyncio.get_running_loop().create_task(self._run(key, work), name=f"operation:{key}")
        self._tasks[key] = task
        task.add_done_callback(lambda _: self._tasks.pop(key, None))

    def load(self) -> tuple[int, int]:
        return self._running, len(self._tasks) - self._running

    async def _run(self, key: OperationKey, work: Work) -> None:
        async with self._slots:
            self._running += 1
            try:
                await work()
            except Exception:  # the work reports its own failures; this is the last line of defence
                logger.exception("operation {} crashed outside its own error handling", key)
            finally:
                self._running -= 1
        if self._after_each is not None:
            await self._run_after_each(key)

    async def _run_after_each(self, key: OperationKey) -> None:
        try:
            await asyncio.to_thread(self._after_each)
        except Exception:
            logger.exception("the after-operation hook failed after operation {}", key)

    async def shutdown(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
