"""DashScope's asynchronous tasks: submit with ``X-DashScope-Async: enable``, then poll
``GET /api/v1/tasks/{id}`` with a growing interval until SUCCEEDED, FAILED, CANCELED or UNKNOWN.

A task's id goes into the stage's job ledger (``ctx.jobs``) as soon as DashScope accepted it, before
it is awaited. A run that finds an id there (a worker that stopped mid-task, an earlier try) polls
that task instead of paying for a new one; only when DashScope no longer knows it is one submitted
anew. The id is forgotten once the task's result is collected, or once the task ended in a way that
polling it again cannot change (FAILED, CANCELED, UNKNOWN, a result that cannot be used); it is kept
when the wait was cut short (cancel, timeout, DashScope unreachable), so the next run resumes it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from loguru import logger

from app_api.dashscope.errors import BACKEND, ContentRejected, Endpoint, TaskUnknown, is_moderation
from app_api.dashscope.http import DashScopeClient
from story2video.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    InvalidArtifact,
    OperationCancelled,
    Story2VideoError,
)
from story2video.providers.base import StageContext
from story2video.providers.retry import Sleep

T = TypeVar("T")
ASYNC_HEADER = {"X-DashScope-Async": "enable"}
_PROGRESS = {"PENDING": 0.1, "SUSPENDED": 0.1, "RUNNING": 0.5}  # SUSPENDED: held back by DashScope, resumed later
_TASK_STAYS_USEFUL = (BackendUnavailable, BackendTimeout, OperationCancelled)  # the task may still end well


@dataclass(frozen=True)
class PollPolicy:
    interval: float  # first wait between polls
    backoff: float  # each wait is this many times the last
    max_interval: float
    timeout: float  # from submission (or resumption) to a terminal status
    sleep: Sleep = field(default=asyncio.sleep, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)


@dataclass(frozen=True)
class TaskSpec:
    """One task to submit: where, what, and the ledger name its id is kept under."""

    path: str
    body: dict
    endpoint: Endpoint
    job: str  # e.g. "dashscope-image-synthesis"


class TaskRunner:
    def __init__(self, client: DashScopeClient, base_url: str, poll: PollPolicy):
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.poll = poll

    async def run(self, spec: TaskSpec, ctx: StageContext, collect: Callable[[dict], Awaitable[T]]) -> T:
        """Submit the task (or resume the one ``ctx.jobs`` holds) and ``collect`` its ``output`` once it SUCCEEDED."""
        ctx.raise_if_cancelled()
        output = await self._resumed(spec, ctx)
        if output is None:
            task_id = await self.submit(spec.path, spec.body, spec.endpoint)
            ctx.jobs.remember(spec.job, task_id)
            output = await self._settled(spec.job, self.wait(task_id, spec.endpoint, ctx), ctx, done=False)
        return await self._settled(spec.job, collect(output), ctx, done=True)

    async def submit(self, path: str, body: dict, endpoint: Endpoint) -> str:
        answer = await self.client.post_json(f"{self.base_url}{path}", body, endpoint, headers=ASYNC_HEADER, creates=True)
        task_id = (answer.get("output") or {}).get("task_id")
        if not isinstance(task_id, str) or not task_id:
            raise InvalidArtifact(f"DashScope accepted the {endpoint.name} task without a task_id: {str(answer)[:200]}", backend=BACKEND)
        logger.info("DashScope {} task {} submitted ({})", endpoint.name, task_id, endpoint.model)
        return task_id

    async def wait(self, task_id: str, endpoint: Endpoint, ctx: StageContext, *, resumed: bool = False) -> dict:
        """Poll until a terminal status: after a growing wait for a fresh task (it is never done at
        once), at once for a resumed one."""
        deadline = self.poll.clock() + self.poll.timeout
        status = "PENDING"
        for wait_s in self._waits(resumed):
            if self.poll.clock() + wait_s > deadline:
                raise BackendTimeout(
                    f"DashScope {endpoint.name} task {task_id} was still {status} after {self.poll.timeout:g} s "
                    "(DASHSCOPE_TASK_TIMEOUT_S)",
                    backend=BACKEND,
                )
            if wait_s:
                await self.poll.sleep(wait_s)
            ctx.raise_if_cancelled()
            answer = await self.client.get_task(f"{self.base_url}/api/v1/tasks/{task_id}", endpoint)
            output = answer.get("output") or {}
            status = output.get("task_status", "")
            if status == "SUCCEEDED":
                return output
            if status not in _PROGRESS:
                raise task_error(task_id, status, output, endpoint)
            ctx.progress(_PROGRESS[status])
        raise AssertionError("unreachable: the waits never run out")

    def _waits(self, resumed: bool) -> Iterator[float]:
        if resumed:
            yield 0.0
        wait_s = self.poll.interval
        while True:
            yield wait_s
            wait_s = min(wait_s * self.poll.backoff, self.poll.max_interval)

    async def _resumed(self, spec: TaskSpec, ctx: StageContext) -> dict | None:
        """The output of the task the ledger holds, once it SUCCEEDED; None when there is none, or
        DashScope no longer knows it (then a new one is to be submitted)."""
        task_id = ctx.jobs.recall(spec.job)
        if task_id is None:
            return None
        logger.info("DashScope {} task {} was submitted before; polling it instead of submitting again", spec.endpoint.name, task_id)
        try:
            return await self._settled(spec.job, self.wait(task_id, spec.endpoint, ctx, resumed=True), ctx, done=False)
        except TaskUnknown as unknown:
            logger.warning("{}; submitting the {} task anew", unknown.message, spec.endpoint.name)
            return None

    @staticmethod
    async def _settled(job: str, step: Awaitable[T], ctx: StageContext, *, done: bool) -> T:
        """``step``'s result; the ledger forgets the task when ``done``, or when ``step`` failed for good."""
        try:
            result = await step
        except _TASK_STAYS_USEFUL:
            raise
        except Story2VideoError:
            ctx.jobs.forget(job)
            raise
        if done:
            ctx.jobs.forget(job)
        return result


def task_error(task_id: str, status: str, output: dict, endpoint: Endpoint) -> BackendError:
    """The error for a task that ended without a result, with DashScope's own code and message."""
    code, message = str(output.get("code") or ""), str(output.get("message") or "")
    reason = f"{code}: {message}" if code or message else "no reason given"
    where = f"DashScope {endpoint.name} task {task_id} ({endpoint.model})"
    if status == "FAILED" and is_moderation(code, message):
        return ContentRejected(f"DashScope content moderation rejected the {endpoint.name} input ({reason})", backend=BACKEND)
    if status == "FAILED":
        return BackendError(f"{where} FAILED ({reason})", backend=BACKEND)
    if status == "CANCELED":
        return BackendError(f"{where} was CANCELED on DashScope's side ({reason})", backend=BACKEND)
    if status == "UNKNOWN":
        return TaskUnknown(
            f"{where} is UNKNOWN to DashScope: the task expired (tasks are kept 24 h) or the id is wrong ({reason})", backend=BACKEND
        )
    return InvalidArtifact(f"{where} reported an unexpected status {status!r} ({reason})", backend=BACKEND)
