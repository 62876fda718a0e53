"""diffusers' ``callback_on_step_end`` for one batch: progress to every job, and cancellation.

After each denoising step every job still wanted gets its fraction of the steps; a job whose caller
cancelled is answered with OperationCancelled at once (the rest of the batch goes on). When no job
is left the call is stopped by raising ``BatchInterrupted`` out of the callback: no step and no VAE
decode runs after that (``pipe._interrupt``, set too, only skips the steps: the decode would still
run, minutes for a batch of large pictures or a clip's frames).
"""

from __future__ import annotations

from typing import Any

from app_local.inprocess.batching import Job
from story2video.errors import OperationCancelled


class BatchInterrupted(Exception):
    """Raised out of the step callback to stop a pipeline that has no interrupt flag."""


class StepReporter:
    def __init__(self, jobs: list[Job]):
        self._jobs = jobs
        self.answered: set[Job] = set()
        self.interrupted = False

    def __call__(self, pipe: Any, step: int, timestep: Any, tensors: dict) -> dict:
        pending = [job for job in self._jobs if job not in self.answered]
        cancelled = [job for job in pending if job.cancelled()]
        if len(cancelled) == len(pending):
            self.interrupted = True
            pipe._interrupt = True  # before anyone hears of the cancel: the pipeline is stopping
        for job in cancelled:
            job.reply.reject(OperationCancelled())
            self.answered.add(job)
        total = getattr(pipe, "num_timesteps", 0) or self._jobs[0].work.steps
        for job in pending:
            if job not in self.answered:
                job.reply.progress(min(1.0, (step + 1) / total))
        if self.interrupted:
            raise BatchInterrupted()
        return tensors
