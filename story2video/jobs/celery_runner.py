"""Operations handed to Celery workers (SERVICE_ROLE=api): enqueue by task name, revoke on cancel,
and the load of the queues and the workers for /ready and /metrics."""

from __future__ import annotations

import time

import kombu.exceptions
import redis
from celery import Celery
from loguru import logger

from story2video.errors import QueueFull, QueueUnavailable
from story2video.jobs.celery_app import QUEUE_OPERATIONS, QUEUES, RUN_OPERATION, render_task_ids, task_id
from story2video.jobs.keys import OperationKey
from story2video.jobs.runner import Execute, QueueLoad
from story2video.storage.leases import LeaseRepository
from story2video.storage.records import OperationRecord
from story2video.storage.workers import WorkerRepository

LIVE_WORKER_S_PER_TTL = 2  # a worker whose heartbeat is older than two lease lives counts as gone


class CeleryJobRunner:
    holds_queued = False

    def __init__(
        self, celery: Celery, workers: WorkerRepository, leases: LeaseRepository, broker_url: str, max_queued: int, retry_after_s: int, lease_ttl_s: float
    ):
        self.celery = celery
        self.workers = workers
        self.leases = leases
        self._redis = redis.Redis.from_url(broker_url, socket_timeout=5, socket_connect_timeout=5)
        self._max_queued = max_queued
        self._retry_after_s = retry_after_s
        self._live_within_s = LIVE_WORKER_S_PER_TTL * lease_ttl_s

    def attach(self, execute: Execute) -> None:
        """Workers run the operations; nothing executes in this process."""

    def check_capacity(self) -> None:
        waiting = self._depth(QUEUE_OPERATIONS)
        if waiting >= self._max_queued:
            raise QueueFull(f"{waiting} operations are waiting for a worker (limit {self._max_queued}); retry later", retry_after=self._retry_after_s)

    def submit(self, key: OperationKey, attempt: int) -> None:
        try:
            self.celery.send_task(RUN_OPERATION, args=[key.user_id, key.operation_id, attempt], queue=QUEUE_OPERATIONS, task_id=task_id(key, attempt, "run"))
        except (kombu.exceptions.OperationalError, redis.RedisError, OSError) as error:
            raise QueueUnavailable(f"the work queue (CELERY_BROKER_URL) cannot be reached: {error}") from error

    def revoke(self, record: OperationRecord) -> None:
        ids = render_task_ids(OperationKey(record.user_id, record.operation_id), record.attempt, list(record.shots))
        try:
            self.celery.control.revoke(ids)
        except (kombu.exceptions.OperationalError, redis.RedisError, OSError) as error:
            # The flag in the database still stops every task of it when a worker picks one up.
            logger.warning("could not revoke the queued tasks of {}/{}: {}", record.user_id, record.operation_id, error)

    def load(self) -> QueueLoad:
        queues = {name: self._depth(name) for name in QUEUES}
        live = self.workers.live(self._live_within_s)
        workers = [
            {"worker_id": w.worker_id, "hostname": w.hostname, "queues": w.queues, "concurrency": w.concurrency, "seen_s_ago": round(time.time() - w.heartbeat_at, 1)}
            for w in live
        ]
        return QueueLoad(running=self.leases.active_operations(time.time()), waiting=sum(queues.values()), queues=queues, workers=workers)

    def _depth(self, queue: str) -> int:
        try:
            return int(self._redis.llen(queue))
        except (redis.RedisError, OSError) as error:
            raise QueueUnavailable(f"the work queue (CELERY_BROKER_URL) cannot be reached: {error}") from error

    async def shutdown(self) -> None:
        self._redis.close()
