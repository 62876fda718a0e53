"""Where operations execute. The service and the routes only see ``JobRunner``: ``LocalJobRunner``
runs them in this process; ``CeleryJobRunner`` (jobs/celery_runner.py) hands them to workers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Protocol

from loguru import logger

from story2video.errors import QueueFull
from story2video.jobs.keys import OperationKey
from story2video.storage.records import OperationRecord

Execute = Callable[[OperationKey], Awaitable[None]]


@dataclass(frozen=True)
class QueueLoad:
    running: int  # operations (or, with workers, tasks) being worked on
    waiting: int  # waiting for a free slot
    queues: dict[str, int] = field(default_factory=dict)  # broker queue -> tasks waiting in it
    workers: list[dict] = field(default_factory=list)  # live workers: name, host, queues, concurrency


class JobRunner(Protocol):
    holds_queued: bool  # True: a queued operation waits inside this process (which holds its lease meanwhile)

    def attach(self, execute: Execute) -> None:
        """What runs one operation here (runners that execute in this process call it)."""
        ...

    def check_capacity(self) -> None:
        """Raise ``QueueFull`` (or ``QueueUnavailable``) when a new operation would not be taken: asked
        before the operation is stored, so a refused request leaves nothing behind."""
        ...

    def submit(self, key: OperationKey, attempt: int) -> None:
        """Accept attempt ``attempt`` of the stored operation, or raise ``QueueFull``; never runs it inside the caller."""
        ...

    def revoke(self, record: OperationRecord) -> None:
        """Drop whatever of this operation still waits to run (it was cancelled)."""
        ...

    def load(self) -> QueueLoad: ...

    async def shutdown(self) -> None: ...


class LocalJobRunner:
    """Runs operations as asyncio tasks in this process: ``max_running`` at once, ``max_queued`` waiting.

    ``after_each`` runs in a worker thread once an operation has finished and given up its slot
    (the service trims the C heap there); what it raises is logged.
    """

    holds_queued = True

    def __init__(self, max_running: int, max_queued: int, retry_after_s: int, after_each: Callable[[], object] | None = None):
        self._slots = asyncio.Semaphore(max_running)
        self._max_running = max_running
        self._max_queued = max_queued
        self._retry_after_s = retry_after_s
        self._tasks: dict[OperationKey, asyncio.Task[None]] = {}
        self._running = 0
        self._after_each = after_each
        self._execute: Execute | None = None

    def attach(self, execute: Execute) -> None:
        self._execute = execute

    def check_capacity(self) -> None:
        running, waiting = self._running, len(self._tasks) - self._running
        if running >= self._max_running and waiting >= self._max_queued:
            raise QueueFull(
                f"{running} operations are running and {waiting} are waiting (limit {self._max_queued}); retry later",
                retry_after=self._retry_after_s,
            )

    def submit(self, key: OperationKey, attempt: int) -> None:
        if self._execute is None:
            raise RuntimeError("LocalJobRunner.submit before attach(): nothing would run the operation")
        self.check_capacity()
        task = asyncio.get_running_loop().create_task(self._run(key, self._execute), name=f"operation:{key}")
        self._tasks[key] = task
        task.add_done_callback(lambda _: self._tasks.pop(key, None))

    def revoke(self, record: OperationRecord) -> None:
        """A queued operation here needs nothing dropped: it sees its cancelled record when its turn comes."""

    def load(self) -> QueueLoad:
        return QueueLoad(running=self._running, waiting=len(self._tasks) - self._running)

    async def _run(self, key: OperationKey, execute: Execute) -> None:
        async with self._slots:
            self._running += 1
            try:
                await execute(key)
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
