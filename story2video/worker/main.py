"""Start a worker: build the engine for SERVICE_ROLE=worker, register the tasks, run Celery's worker
(threads pool) on WORKER_QUEUES until it is stopped."""

from __future__ import annotations

from loguru import logger

from story2video.app import build_engine
from story2video.config import Settings
from story2video.providers.base import Providers
from story2video.worker.runtime import WorkerRuntime
from story2video.worker.tasks import register_tasks


def run_worker(settings: Settings, providers: Providers) -> int:
    assembly = build_engine(settings, providers)
    queues = settings.worker_queue_list
    runtime = WorkerRuntime(assembly, queues, settings.worker_concurrency)
    register_tasks(assembly.celery, runtime)
    runtime.start()
    try:
        worker = assembly.celery.Worker(
            hostname=f"{assembly.worker_id}@story2video",
            queues=queues,
            concurrency=settings.worker_concurrency,
            pool="threads",
            without_gossip=True,
            without_mingle=True,
            loglevel=settings.log_level,
            redirect_stdouts=False,
        )
        worker.start()
        return worker.exitcode or 0
    finally:
        logger.info("worker {} stopping", assembly.worker_id)
        runtime.stop()
