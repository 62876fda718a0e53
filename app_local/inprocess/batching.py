"""Micro-batching: requests that can share one pipeline call are handed to a worker together.

A job waits in the queue until a worker takes it. A worker takes the oldest job and every later job
with the same ``key`` (same model, size, steps...), up to the batch limit, once the limit is reached
or the oldest job's window has passed. Jobs that arrive while every worker is busy have usually
outlived their window by then, so they go together at once. A job pinned to a device (a warm-up) is
taken only by that device's worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from app_local.inprocess.loading import LoadOptions
from app_local.inprocess.manifest import ModelSpec
from app_local.inprocess.reply import Reply

StepCallback = Callable[[Any, int, Any, dict], dict]  # diffusers' callback_on_step_end
BatchRun = Callable[[Any, list[Any], StepCallback], list[Any]]  # (pipeline, payloads, callback) -> one output each


@dataclass(frozen=True)
class Work:
    """What a generator asks of a device: one image or clip, and how to run a batch of its kind."""

    key: Hashable  # work with equal keys can share one pipeline call (same model, size, steps...)
    model: ModelSpec
    options: LoadOptions
    run: BatchRun
    payload: Any
    steps: int
    batch_limit: int
    window_s: float


@dataclass(eq=False)
class Job:
    """Work on its way through the queue, with the way back to the task awaiting it."""

    work: Work
    reply: Reply
    is_cancelled: Callable[[], bool]  # the caller's cancel check; called from the worker thread too
    abandoned: threading.Event = field(default_factory=threading.Event)  # the awaiting task went away
    enqueued_at: float = 0.0
    device: str | None = None  # only this device's worker takes it; None: any

    def cancelled(self) -> bool:
        return self.abandoned.is_set() or self.is_cancelled()


class BatchQueue:
    """Thread-safe FIFO of jobs that hands them out in compatible batches."""

    def __init__(self) -> None:
        self._jobs: list[Job] = []
        self._changed = threading.Condition()
        self._closed = False

    def put(self, job: Job) -> None:
        with self._changed:
            job.enqueued_at = time.monotonic()
            self._jobs.append(job)
            self._changed.notify_all()

    def withdraw(self, job: Job) -> bool:
        """Take ``job`` out if no worker has taken it yet; whether it was still waiting."""
        with self._changed:
            if job in self._jobs:
                self._jobs.remove(job)
                return True
            return False

    def take(self, cap: Callable[[Job], int], device: str | None = None) -> list[Job] | None:
        """Block until a batch for ``device`` is ready (``cap(job)`` may lower its limit); None once closed."""
        with self._changed:
            while not self._closed:
                eligible = [job for job in self._jobs if job.device in (None, device)]
                if not eligible:
                    self._changed.wait()
                    continue
                first = eligible[0]
                limit = max(1, min(first.work.batch_limit, cap(first)))
                mates = [job for job in eligible if job.work.key == first.work.key][:limit]
                wait = first.enqueued_at + first.work.window_s - time.monotonic()
                if len(mates) >= limit or wait <= 0:
                    for job in mates:
                        self._jobs.remove(job)
                    return mates
                self._changed.wait(timeout=wait)
            return None

    def drain(self, device: str | None = None) -> list[Job]:
        """Take out the jobs pinned to ``device`` (None: every waiting job), when no worker is left to run them."""
        with self._changed:
            taken = [job for job in self._jobs if device is None or job.device == device]
            self._jobs = [job for job in self._jobs if job not in taken]
            return taken

    def close(self) -> None:
        """Wake every worker and let it stop."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
