"""The process's device workers and their queue, shared by the image and the clip generator.

``DevicePool.run`` is the asyncio side: it queues the work, awaits the worker's answer, and keeps
an eye on the caller's cancel check while the job still waits in the queue (a job already on a
device is answered by the worker at its next step). ``warm_up`` queues one call per device, pinned
to it, whose outcome is only logged.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

from loguru import logger

from app_local.inprocess.batching import BatchQueue, Job, Work
from app_local.inprocess.libraries import GpuLibraries
from app_local.inprocess.manifest import ModelSpec
from app_local.inprocess.reply import Reply
from app_local.inprocess.worker import BACKEND, STAGE_NAMES, DeviceWorker
from story2video.errors import BackendUnavailable, OperationCancelled, describe_exception
from story2video.providers.base import BackendStatus, ProgressCallback, StageContext

CANCEL_POLL_S = 0.05



@dataclass(frozen=True)
class PoolOptions:
    max_loaded: int = 2  # DIFFUSERS_MAX_LOADED
    load_retry_s: float = 300.0  # DIFFUSERS_LOAD_RETRY_S


_POOLS: dict[tuple[tuple[str, ...], PoolOptions], DevicePool] = {}
_POOLS_LOCK = threading.Lock()


class DevicePool:
    def __init__(self, libraries: GpuLibraries, devices: tuple[str, ...], options: PoolOptions = PoolOptions()):
        self.devices = devices
        self._queue = BatchQueue()
        self._workers = [
            DeviceWorker(device, self._queue, libraries, max_loaded=options.max_loaded, load_retry_s=options.load_retry_s,
                         on_unhealthy=self._worker_unhealthy)
            for device in devices
        ]

    async def run(self, work: Work, ctx: StageContext, progress: ProgressCallback) -> Any:
        """The output of ``work`` (one image, or one clip's frames); raises what the worker answered."""
        ctx.raise_if_cancelled()
        self._raise_if_no_device(work)
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        job = Job(work=work, reply=Reply(loop, future, progress), is_cancelled=ctx.is_cancelled)
        self._queue.put(job)
        try:
            while not future.done():
                await asyncio.wait({future}, timeout=CANCEL_POLL_S)
                if not future.done() and ctx.is_cancelled() and self._queue.withdraw(job):
                    raise OperationCancelled()
            return future.result()
        finally:
            if not future.done():  # timed out or cancelled from outside: let the worker drop it
                job.abandoned.set()
                self._queue.withdraw(job)

    def warm_up(self, work: Work, count: int) -> None:
        """Queue ``count`` copies of ``work`` on every healthy device: it loads, and compiles for that shape."""
        for worker in self._workers:
            if worker.unhealthy is None:
                for _ in range(count):
                    self._queue.put(Job(work=work, reply=WarmUpReply(work.model.name, worker.device), is_cancelled=lambda: False,
                                        device=worker.device))

    def status(self, stage: str, spec: ModelSpec) -> BackendStatus:
        """Ready while the model's folder is there and a device is healthy; says where it is loaded (it loads on first use)."""
        loaded_on = [worker.device for worker in self._workers if spec.name in worker.loaded_models()]
        failed = {worker.device: worker.failed_loads()[spec.name] for worker in self._workers if spec.name in worker.failed_loads()}
        unhealthy = {worker.device: worker.unhealthy for worker in self._workers if worker.unhealthy is not None}
        present = (spec.path / "model_index.json").is_file()
        parts = [f"loaded on {', '.join(loaded_on)}" if loaded_on else "loads on first use"]
        parts += [f"loading on {device} failed: {error}" for device, error in failed.items()]
        parts += [f"{device} is unhealthy: {why}" for device, why in unhealthy.items()]
        if not present:
            parts = [f"the model folder {spec.path} is gone"]
        ready = present and len(unhealthy) < len(self._workers) and len(failed) < len(self._workers)
        return BackendStatus(stage=stage, backend=BACKEND, model=spec.name, ready=ready, detail="; ".join(parts), location=", ".join(self.devices))

    def close(self) -> None:
        """Stop the workers (their pipelines are freed with them); for tests and shutdown."""
        self._queue.close()
        for worker in self._workers:
            worker.join(timeout=60)

    def _worker_unhealthy(self, worker: DeviceWorker) -> None:
        everyone = all(other.unhealthy is not None for other in self._workers)
        for job in self._queue.drain(None if everyone else worker.device):  # else only the warm-ups pinned to it
            error = self._no_device_error(job.work) if everyone else BackendUnavailable(
                f"{worker.device} is unhealthy: {worker.unhealthy}", stage=STAGE_NAMES[job.work.model.stage], backend=BACKEND)
            job.reply.reject(error)

    def _raise_if_no_device(self, work: Work) -> None:
        if all(worker.unhealthy is not None for worker in self._workers):
            raise self._no_device_error(work)

    def _no_device_error(self, work: Work) -> BackendUnavailable:
        reasons = "; ".join(f"{worker.device}: {worker.unhealthy}" for worker in self._workers)
        return BackendUnavailable(f"no healthy diffusers device is left ({reasons})", stage=STAGE_NAMES[work.model.stage], backend=BACKEND)


class WarmUpReply:
    """Where a warm-up call's outcome goes: the log (nobody awaits it)."""

    def __init__(self, model: str, device: str):
        self._what = f"warm-up of diffusers model '{model}' on {device}"

    def progress(self, fraction: float) -> None:
        pass

    def resolve(self, value: Any) -> None:
        logger.info("{} done", self._what)

    def reject(self, error: BaseException) -> None:
        logger.error("{} failed: {}", self._what, describe_exception(error, with_type=True))


def shared_pool(libraries: GpuLibraries, devices: tuple[str, ...], options: PoolOptions = PoolOptions()) -> DevicePool:
    """The process's pool for these devices: both generators share it, so a device runs one batch at a time."""
    with _POOLS_LOCK:
        pool = _POOLS.get((devices, options))
        if pool is None:
            pool = _POOLS[(devices, options)] = DevicePool(libraries, devices, options)
        return pool
