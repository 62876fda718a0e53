"""One worker thread per device, all fed by one batch queue: a device never runs two pipelines at once.

Each worker loads a model the first time it is asked for it and keeps it. A batch that runs out of
memory is halved and both halves are run (each image has its own seeded generator, so the images do
not change); the worker remembers the smaller size for that model. A single image that still does
not fit fails with a clear error. Cancelled jobs are answered at the next step; when every job of a
batch is cancelled the pipeline is interrupted.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

from loguru import logger

from app_local.inprocess.batching import BatchQueue, Job
from app_local.inprocess.libraries import GpuLibraries
from app_local.inprocess.loading import LoadOptions, load_pipeline
from app_local.inprocess.manifest import ModelSpec
from app_local.inprocess.steps import BatchInterrupted, StepReporter
from story2video.errors import BackendError, OperationCancelled, describe_exception

BACKEND = "diffusers"
STAGE_NAMES = {"image": "keyframes", "video": "clips"}


class DeviceWorker:
    def __init__(self, device: str, queue: BatchQueue, libraries: GpuLibraries):
        self.device = device
        self._queue = queue
        self._libraries = libraries
        self._pipelines: dict[tuple[tuple[str, str, str], LoadOptions], Any] = {}  # touched by the worker thread only
        self._caps: dict[str, int] = {}  # manifest entry -> batch size known to fit after an out-of-memory
        self._loaded: set[str] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name=f"diffusers-{device}", daemon=True)
        self._thread.start()

    def loaded_models(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._loaded)

    def _serve(self) -> None:
        while True:  # a daemon thread: it lives as long as the process
            batch = self._queue.take(self._cap)
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
        model = jobs[0].work.model
        try:
            pipe = self._pipeline(model, jobs[0].work.options)
        except Exception as exc:  # torch/diffusers raise many types for unreadable or mismatched weights
            _fail(jobs, f"loading it from {model.path} failed: {describe_exception(exc, with_type=True)}")
            return
        self._run_halving(pipe, jobs)

    def _pipeline(self, model: ModelSpec, options: LoadOptions) -> Any:
        key = (model.weights_key, options)
        if key not in self._pipelines:
            self._pipelines[key] = load_pipeline(self._libraries, model, self.device, options)
        with self._lock:
            self._loaded.add(model.name)
        return self._pipelines[key]

    def _run_halving(self, pipe: Any, jobs: list[Job]) -> None:
        jobs = _still_wanted(jobs)
        if not jobs:
            return
        results: list[tuple[Job, Any]] | None = None
        try:
            results = self._call(pipe, jobs)
        except Exception as exc:
            if not self._out_of_memory(exc):
                _fail(jobs, f"the pipeline failed: {describe_exception(exc, with_type=True)}")
                return
        if results is None:  # out of memory; handled outside the except block so its traceback's tensors are freed
            self._free_memory()
            self._after_out_of_memory(pipe, jobs)
            return
        for job, output in results:
            job.reply.resolve(output)

    def _call(self, pipe: Any, jobs: list[Job]) -> list[tuple[Job, Any]]:
        """Run one pipeline call; each job still wanted with its output (cancelled ones are answered)."""
        reporter = StepReporter(jobs)
        try:
            outputs = jobs[0].work.run(pipe, [job.work.payload for job in jobs], reporter)
        except BatchInterrupted:
            return []  # every job was answered by the reporter
        if reporter.interrupted:
            return []
        return [(job, output) for job, output in zip(jobs, outputs, strict=True) if job not in reporter.answered]

    def _after_out_of_memory(self, pipe: Any, jobs: list[Job]) -> None:
        model = jobs[0].work.model
        if len(jobs) == 1:
            _fail(jobs, f"out of memory on {self.device} even for a single {_unit(model)}; lower the size or "
                        "steps in the manifest, or set DIFFUSERS_CPU_OFFLOAD=true")
            return
        half = len(jobs) // 2
        self._caps[model.entry_key] = min(half, self._caps.get(model.entry_key, half))
        logger.warning("out of memory on {} with a batch of {} '{}' jobs; retrying in halves", self.device, len(jobs), model.name)
        self._run_halving(pipe, jobs[:half])
        self._run_halving(pipe, jobs[half:])

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
