"""The process's device workers and their queue, shared by the image and the clip generator.

``DevicePool.run`` is the asyncio side: it queues the work, awaits the worker's answer, and keeps
an eye on the caller's cancel check while the job still waits in the queue (a job already on a
device is answered by the worker at its next step).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from app_local.inprocess.batching import BatchQueue, Job, Work
from app_local.inprocess.libraries import GpuLibraries
from app_local.inprocess.manifest import ModelSpec
from app_local.inprocess.reply import Reply
from app_local.inprocess.worker import BACKEND, DeviceWorker
from story2video.errors import OperationCancelled
from story2video.providers.base import BackendStatus, ProgressCallback, StageContext

CANCEL_POLL_S = 0.05

_POOLS: dict[tuple[str, ...], DevicePool] = {}
_POOLS_LOCK = threading.Lock()


class DevicePool:
    def __init__(self, libraries: GpuLibraries, devices: tuple[str, ...]):
        self.devices = devices
        self._queue = BatchQueue()
        self._workers = [DeviceWorker(device, self._queue, libraries) for device in devices]

    async def run(self, work: Work, ctx: StageContext, progress: ProgressCallback) -> Any:
        """The output of ``work`` (one image, or one clip's frames); raises what the worker answered."""
        ctx.raise_if_cancelled()
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

    def status(self, stage: str, spec: ModelSpec) -> BackendStatus:
        """Ready while the model's folder is there; says where it is loaded (it loads on first use)."""
        loaded_on = [worker.device for worker in self._workers if spec.name in worker.loaded_models()]
        present = (spec.path / "model_index.json").is_file()
        detail = f"loaded on {', '.join(loaded_on)}" if loaded_on else "loads on first use"
        if not present:
            detail = f"the model folder {spec.path} is gone"
        return BackendStatus(stage=stage, backend=BACKEND, model=spec.name, ready=present, detail=detail, location=", ".join(self.devices))


def shared_pool(libraries: GpuLibraries, devices: tuple[str, ...]) -> DevicePool:
    """The process's pool for these devices: both generators share it, so a device runs one batch at a time."""
    with _POOLS_LOCK:
        pool = _POOLS.get(devices)
        if pool is None:
            pool = _POOLS[devices] = DevicePool(libraries, devices)
        return pool
