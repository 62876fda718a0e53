"""One per worker process: the engine, the event loop every task's coroutine runs on, and the
background work of a worker (heartbeat, lease sweep, registration).

Celery runs tasks in threads (the ``threads`` pool: nothing is ever forked, so a GPU backend that
initialised CUDA is safe); each task hands its coroutine to the one loop and waits for it. Providers,
HTTP clients and the GPU worker queues therefore live on one loop, as in the single process.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from concurrent.futures import Future
from typing import Coroutine, TypeVar

from loguru import logger

from story2video.app import Assembly, check_backends
from story2video.startup import role_summary
from story2video.util.workdirs import sweep_stale_work_folders

T = TypeVar("T")


class WorkerRuntime:
    def __init__(self, assembly: Assembly, queues: list[str], concurrency: int):
        self.assembly = assembly
        self.queues = queues
        self.concurrency = concurrency
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="worker-loop", daemon=True)
        self._background: list[asyncio.Task] = []

    @property
    def engine(self):
        return self.assembly.engine

    @property
    def worker_id(self) -> str:
        return self.assembly.worker_id

    def start(self) -> None:
        self._thread.start()
        self.call(self._start())

    def call(self, coroutine: Coroutine[object, object, T]) -> T:
        """Run ``coroutine`` on the worker's loop and wait for its result (from a task's thread)."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result()

    async def _start(self) -> None:
        self.assembly.hub.bind_loop(self.loop)
        await asyncio.to_thread(self._sweep_leftovers)
        self.assembly.workers.register(self.worker_id, socket.gethostname(), self.queues, self.concurrency)
        await check_backends(self.engine)
        sweeper = self.assembly.sweeper(take_over=True)
        self._background = [
            asyncio.create_task(self.assembly.heartbeat().run(), name="heartbeat"),
            asyncio.create_task(sweeper.run(), name="lease-sweep"),
        ]
        logger.info("worker {} runs as {}", self.worker_id, role_summary(self.assembly.settings, self.assembly.db.location))

    def _sweep_leftovers(self) -> None:
        """What killed processes left: this host's FFmpeg work folders (lock-checked, so a live
        process's are never touched) and temp files in the shared OUTPUT_DIR older than any step lasts."""
        folders = sweep_stale_work_folders()
        files = self.engine.deps.store.sweep_temp_files(older_than=time.time() - self.assembly.settings.visibility_timeout_s)
        if folders or files:
            logger.warning("start-up: removed {} work folders and {} temp files that stopped processes left", folders, files)

    def stop(self) -> None:
        async def stop() -> None:
            for task in self._background:
                task.cancel()
            await asyncio.gather(*self._background, return_exceptions=True)
            await asyncio.to_thread(self.assembly.workers.remove, self.worker_id)

        try:
            self.call(stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
