"""Ownership of running work by lease: whoever works on an operation holds a lease on it in the
database and renews it with a heartbeat. A lease that was not renewed in time means its holder died
(or hung); only then is the operation taken over (workers) or marked interrupted (single process).
Live work is never touched by anyone else.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from typing import Callable

from loguru import logger

from story2video.errors import Story2VideoError, describe_exception
from story2video.jobs.keys import OperationKey
from story2video.storage.leases import LeaseRepository
from story2video.storage.workers import WorkerRepository

CANCEL_POLL_S = 1.0


def new_worker_id(configured: str = "") -> str:
    """A name no other live process has: WORKER_ID when set (plus the PID), else host-pid-random."""
    suffix = f"{os.getpid()}-{secrets.token_hex(3)}"
    return f"{configured}-{suffix}" if configured else f"{socket.gethostname()}-{suffix}"


class LeaseKeeper:
    """This process's leases: one per piece of work it runs, all renewed together."""

    def __init__(self, repo: LeaseRepository, worker_id: str, ttl_s: float):
        self.repo = repo
        self.worker_id = worker_id
        self.ttl_s = ttl_s

    def take(self, key: OperationKey, attempt: int, holder: str) -> None:
        self.repo.take(key.user_id, key.operation_id, holder, self.worker_id, attempt, self.ttl_s)

    def release(self, key: OperationKey, holder: str) -> None:
        self.repo.release(key.user_id, key.operation_id, holder)

    def renew(self) -> int:
        return self.repo.renew(self.worker_id, self.ttl_s)


class Heartbeat:
    """Renews this process's leases (every third of their life) and, every second, hands cancels and
    takeovers decided elsewhere to the work running here (``pull``)."""

    def __init__(self, keeper: LeaseKeeper, pull: Callable[[], object], workers: WorkerRepository | None = None):
        self.keeper = keeper
        self.pull = pull
        self.workers = workers
        self._failing = False

    async def run(self) -> None:
        next_renewal = 0.0
        while True:
            try:
                if time.monotonic() >= next_renewal:
                    await asyncio.to_thread(self.beat)
                    next_renewal = time.monotonic() + self.keeper.ttl_s / 3
                await asyncio.to_thread(self.pull)
                self._recovered()
            except (Story2VideoError, OSError) as error:
                self._failed(error)
                next_renewal = 0.0
            await asyncio.sleep(CANCEL_POLL_S)

    def beat(self) -> None:
        self.keeper.renew()
        if self.workers is not None:
            self.workers.beat(self.keeper.worker_id)

    def _failed(self, error: BaseException) -> None:
        if not self._failing:
            logger.error("cannot renew leases of {}: {}; its work is taken over if this lasts {} s", self.keeper.worker_id, describe_exception(error), self.keeper.ttl_s)
        self._failing = True

    def _recovered(self) -> None:
        if self._failing:
            logger.info("leases of {} renewed again", self.keeper.worker_id)
        self._failing = False


class LeaseSweeper:
    """Finds operations whose work was lost (a lease expired) and hands each to ``act`` (take it over, or
    mark it interrupted); then drops the expired leases. Several sweepers may run at once: ``act``
    decides atomically, so only one of them acts on a lost attempt."""

    def __init__(self, repo: LeaseRepository, act: Callable[[OperationKey, int], object], interval_s: float):
        self.repo = repo
        self.act = act
        self.interval_s = interval_s

    def sweep_once(self) -> int:
        lost = self.repo.expired(time.time())
        for user_id, operation_id, attempt in lost:
            key = OperationKey(user_id, operation_id)
            logger.warning("the lease on operation {} (attempt {}) expired: its process stopped renewing it", key, attempt)
            self.act(key, attempt)
            self.repo.drop_expired(user_id, operation_id)
        return len(lost)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await asyncio.to_thread(self.sweep_once)
            except (Story2VideoError, OSError) as error:
                logger.error("the lease sweep failed: {}", describe_exception(error))
