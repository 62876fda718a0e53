"""One worker thread per device, all fed by one batch queue: a device never runs two pipelines at once.

Each worker loads a model the first time it is asked for it and keeps the few most recently used
(residency.py). A batch that runs out of memory is halved and both halves are run (each image has its
own seeded generator, so the images do not change); the worker remembers the smaller size for that
model. A single image that still does not fit fails with a clear error. After any failed call the
pipeline's components get their dtypes back. Cancelled jobs are answered at the next step; when every
job of a batch is cancelled the call stops there, before the decode.

A CUDA error that poisons the device's context (an illegal memory access, a device-side assert...)
makes every later call on it fail until the process restarts: the worker marks its device unhealthy
(``/ready`` says so), fails the batch, and takes no more work; when no healthy device is left, the
waiting jobs are failed too and new ones are refused.
"""

from __future__ import annotations

import gc
import re
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from loguru import logger

from app_local.inprocess.batching import BatchQueue, Job
from app_local.inprocess.compiling import raise_recompile_limit
from app_local.inprocess.libraries import GpuLibraries
from app_local.inprocess.loading import LoadOptions, load_pipeline
from app_local.inprocess.manifest import ModelSpec
from app_local.inprocess.residency import LoadFailedRecently, PipelineCache, ResidentPipeline
from app_local.inprocess.steps import BatchInterrupted, StepReporter
from story2video.errors import BackendError, OperationCancelled, describe_exception

BACKEND = "diffusers"
STAGE_NAMES = {"image": "keyframes", "video": "clips"}
# CUDA errors after which the context is unusable ("sticky"); out-of-memory is not one of them.
_STICKY_CUDA_ERROR = re.compile(
    r"CUDA error: (an illegal memory access|device-side assert|unspecified launch failure|misaligned address|"
    r"an illegal instruction|uncorrectable ECC|the launch timed out)",
    re.IGNORECASE,
)


class DeviceWorker:
    def __init__(self, device: str, queue: BatchQueue, libraries: GpuLibraries, *, max_loaded: int = 2,
                 load_retry_s: float = 300.0, on_unhealthy: Callable[[DeviceWorker], None] | None = None):
        self.device = device
        self.unhealthy: str | None = None  # why the device stopped taking work
        self._queue = queue
        self._libraries = libraries
        self._pipelines = PipelineCache(max_loaded, load_retry_s, self._free_memory, self._out_of_memory)
        self._caps: dict[str, int] = {}  # manifest entry -> batch size known to fit after an out-of-memory
        self._on_unhealthy = on_unhealthy
        self._compile_ready = False
        self._thread = threading.Thread(target=self._serve, name=f"diffusers-{device}", daemon=True)
        self._thread.start()

    def loaded_models(self) -> frozenset[str]:
        return self._pipelines.models

    def failed_loads(self) -> dict[str, str]:
        return self._pipelines.failed_models

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _serve(self) -> None:
        if self.device.startswith("cuda"):
            self._libraries.torch.cuda.set_device(self.device)  # kernels and allocations default to this device
        while self.unhealthy is None:
            batch = self._queue.take(self._cap, self.device)
            if batch is None:
                return
            try:
                self._run_batch(batch)
            except Exception as exc:  # a bug here must not kill the device's only thread: fail the batch
                logger.exception("diffusers worker on {} failed a batch", self.device)
                _fail(batch, f"internal error: {describe_exception(exc, with_type=True)}")

    def _cap(self, job: Job) -> int:
        return self._caps.get(job.work.model.entry_key, job.work.batch_limit)

    def _run_batch(self, jobs: list[Job]) -> None:
        jobs = _still_wanted(jobs)
        if not jobs:
            return
        model, options = jobs[0].work.model, jobs[0].work.options
        try:
            resident = self._pipelines.get((model.weights_key, options), model.name, lambda: self._load(model, options))
        except LoadFailedRecently as failed:
            age = time.monotonic() - failed.failure.at
            _fail(jobs, f"loading it from {model.path} failed {age:.0f} s ago ({failed.failure.message}); it is tried again "
                        f"in {failed.retry_in_s:.0f} s (DIFFUSERS_LOAD_RETRY_S) or after a restart")
            return
        except Exception as exc:  # torch/diffusers raise many types for unreadable or mismatched weights
            _fail(jobs, f"loading it from {model.path} failed: {describe_exception(exc, with_type=True)}")
            self._check_health(exc, jobs=[])
            return
        self._run_halving(resident, jobs)

    def _load(self, model: ModelSpec, options: LoadOptions) -> Any:
        if options.compile and not self._compile_ready:
            raise_recompile_limit(self._libraries.torch)
            self._compile_ready = True
        return load_pipeline(self._libraries, model, self.device, options)

    def _run_halving(self, resident: ResidentPipeline, jobs: list[Job]) -> None:
        jobs = _still_wanted(jobs)
        if not jobs:
            return
        results: list[tuple[Job, Any]] | None = None
        try:
            results = self._call(resident, jobs)
        except Exception as exc:
            self._restore(resident)
            if self._check_health(exc, jobs):
                return
            if not self._out_of_memory(exc):
                _fail(jobs, f"the pipeline failed: {describe_exception(exc, with_type=True)}")
                return
        if results is None:  # out of memory; handled outside the except block so its traceback's tensors are freed
            self._free_memory()
            self._after_out_of_memory(resident, jobs)
            return
        for job, output in results:
            job.reply.resolve(output)

    def _call(self, resident: ResidentPipeline, jobs: list[Job]) -> list[tuple[Job, Any]]:
        """Run one pipeline call; each job still wanted with its output (cancelled ones are answered)."""
        reporter = StepReporter(jobs)
        work = jobs[0].work
        try:
            with resident.compiled.calling((work.key, len(jobs))) if work.options.compile else nullcontext():
                outputs = work.run(resident.pipe, [job.work.payload for job in jobs], reporter)
        except BatchInterrupted:
            return []  # every job was answered by the reporter
        if reporter.interrupted:
            return []
        return [(job, output) for job, output in zip(jobs, outputs, strict=True) if job not in reporter.answered]

    def _restore(self, resident: ResidentPipeline) -> None:
        try:
            changed = resident.restore_dtypes()
        except Exception as exc:  # the device itself may be what failed; the health check decides
            logger.warning("could not restore the component dtypes on {}: {}", self.device, describe_exception(exc, with_type=True))
            return
        if changed:
            logger.warning("restored the dtype of {} on {} after a failed call", ", ".join(changed), self.device)

    def _check_health(self, exc: Exception, jobs: list[Job]) -> bool:
        """True (and the jobs failed) when ``exc`` left the device unusable."""
        if not _STICKY_CUDA_ERROR.search(str(exc)):
            return False
        self.unhealthy = f"{describe_exception(exc, with_type=True)}; restart the service to use {self.device} again"
        logger.error("diffusers device {} is unhealthy and takes no more work: {}", self.device, self.unhealthy)
        _fail(jobs, f"{self.device} failed with an error that leaves it unusable until a restart: {describe_exception(exc, with_type=True)}")
        if self._on_unhealthy is not None:
            self._on_unhealthy(self)
        return True

    def _after_out_of_memory(self, resident: ResidentPipeline, jobs: list[Job]) -> None:
        model = jobs[0].work.model
        if len(jobs) == 1:
            _fail(jobs, f"out of memory on {self.device} even for a single {_unit(model)}; lower the size or "
                        "steps in the manifest, or set DIFFUSERS_CPU_OFFLOAD=true")
            return
        half = len(jobs) // 2
        self._caps[model.entry_key] = min(half, self._caps.get(model.entry_key, half))
        logger.warning("out of memory on {} with a batch of {} '{}' jobs; retrying in halves", self.device, len(jobs), model.name)
        self._run_halving(resident, jobs[:half])
        self._run_halving(resident, jobs[half:])

    def _out_of_memory(self, exc: Exception) -> bool:
        torch = self._libraries.torch
        return isinstance(exc, torch.OutOfMemoryError) or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())

    def _free_memory(self) -> None:
        gc.collect()
        if self.device.startswith("cuda"):
            self._libraries.torch.cuda.empty_cache()


def _still_wanted(jobs: list[Job]) -> list[Job]:
    """Answer the cancelled jobs; the others."""
    wanted = []
    for job in jobs:
        if job.cancelled():
            job.reply.reject(OperationCancelled())
        else:
            wanted.append(job)
    return wanted


def _fail(jobs: list[Job], message: str) -> None:
    """Answer every job with its own BackendError (an exception object is raised in one task only)."""
    for job in jobs:
        model = job.work.model
        job.reply.reject(BackendError(f"diffusers model '{model.name}': {message}", stage=STAGE_NAMES[model.stage], backend=BACKEND))


def _unit(model: ModelSpec) -> str:
    return "image" if model.stage == "image" else "clip"
