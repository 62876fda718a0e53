"""DashScope's asynchronous tasks: submit with ``X-DashScope-Async: enable``, then poll
``GET /api/v1/tasks/{id}`` with a growing interval until SUCCEEDED, FAILED, CANCELED or UNKNOWN."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Callable

from loguru import logger

from app_api.dashscope.errors import BACKEND, ContentRejected, Endpoint, is_moderation
from app_api.dashscope.http import DashScopeClient
from app_api.retry import Sleep
from story2video.errors import BackendError, BackendTimeout, InvalidArtifact
from story2video.providers.base import StageContext

ASYNC_HEADER = {"X-DashScope-Async": "enable"}
_PROGRESS = {"PENDING": 0.1, "RUNNING": 0.5}


@dataclass(frozen=True)
class PollPolicy:
    interval: float  # first wait between polls
    backoff: float  # each wait is this many times the last
    max_interval: float
    timeout: float  # from submission to a terminal status
    sleep: Sleep = field(default=asyncio.sleep, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)


class TaskRunner:
    def __init__(self, client: DashScopeClient, base_url: str, poll: PollPolicy):
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.poll = poll

    async def run(self, path: str, body: dict, endpoint: Endpoint, ctx: StageContext) -> dict:
        """Submit a task and return its ``output`` once it SUCCEEDED."""
        ctx.raise_if_cancelled()
        task_id = await self.submit(path, body, endpoint)
        return await self.wait(task_id, endpoint, ctx)

    async def submit(self, path: str, body: dict, endpoint: Endpoint) -> str:
        answer = await self.client.post_json(f"{self.base_url}{path}", body, endpoint, headers=ASYNC_HEADER)
        task_id = (answer.get("output") or {}).get("task_id")
        if not isinstance(task_id, str) or not task_id:
            raise InvalidArtifact(f"DashScope accepted the {endpoint.name} task without a task_id: {str(answer)[:200]}", backend=BACKEND)
        logger.info("DashScope {} task {} submitted ({})", endpoint.name, task_id, endpoint.model)
        return task_id

    async def wait(self, task_id: str, endpoint: Endpoint, ctx: StageContext) -> dict:
        """Poll after a growing wait (a fresh task is never done at once) until a terminal status."""
        deadline = self.poll.clock() + self.poll.timeout
        interval, status = self.poll.interval, "PENDING"
        while True:
            if self.poll.clock() + interval > deadline:
                raise BackendTimeout(
                    f"DashScope {endpoint.name} task {task_id} was still {status} after {self.poll.timeout:g} s "
                    "(DASHSCOPE_TASK_TIMEOUT_S)",
                    backend=BACKEND,
                )
            await self.poll.sleep(interval)
            interval = min(interval * self.poll.backoff, self.poll.max_interval)
            ctx.raise_if_cancelled()
            answer = await self.client.get_json(f"{self.base_url}/api/v1/tasks/{task_id}", endpoint)
            output = answer.get("output") or {}
            status = output.get("task_status", "")
            if status == "SUCCEEDED":
                return output
            if status not in _PROGRESS:
                raise task_error(task_id, status, output, endpoint)
            ctx.progress(_PROGRESS[status])


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
        return BackendError(
            f"{where} is UNKNOWN to DashScope: the task expired (tasks are kept 24 h) or the id is wrong ({reason})", backend=BACKEND
        )
    return InvalidArtifact(f"{where} reported an unexpected status {status!r} ({reason})", backend=BACKEND)
