"""What long work is handed besides its inputs: a progress callback (0..1) and a cancel check.

It sits below every package that does long work (providers, media, pipeline), so each can take one
without importing the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

from story2video.errors import OperationCancelled

ProgressCallback = Callable[[float], None]
CancelCheck = Callable[[], bool]


class JobLedger(Protocol):
    """Where a backend notes the id of a job it submitted to a remote service (a DashScope task id, a
    ComfyUI prompt id), before it awaits the job.

    It is scoped to the one artifact being made. A process that takes the work over after a crash finds
    the id here and resumes polling that job instead of submitting (and paying for) it again. ``name``
    tells a backend's several jobs for one artifact apart (e.g. "video-synthesis").
    """

    def recall(self, name: str) -> str | None: ...

    def remember(self, name: str, job_id: str) -> None: ...

    def forget(self, name: str) -> None: ...


class MemoryJobLedger:
    """A ledger that lives as long as the work does: nothing survives the process (tests, one-off calls)."""

    def __init__(self) -> None:
        self._jobs: dict[str, str] = {}

    def recall(self, name: str) -> str | None:
        return self._jobs.get(name)

    def remember(self, name: str, job_id: str) -> None:
        self._jobs[name] = job_id

    def forget(self, name: str) -> None:
        self._jobs.pop(name, None)


def _no_progress(_: float) -> None:
    return None


def _never_cancelled() -> bool:
    return False


@dataclass(frozen=True)
class StageContext:
    """What a provider may do besides its job: report progress (0..1) and notice a cancel.
    ``first_come``: when the operation the work is for was submitted (None: no operation), which
    decides whose work the cores serve first (``story2video.turns``)."""

    progress: ProgressCallback = _no_progress
    is_cancelled: CancelCheck = _never_cancelled
    jobs: JobLedger = field(default_factory=MemoryJobLedger)
    first_come: float | None = None

    def raise_if_cancelled(self) -> None:
        if self.is_cancelled():
            raise OperationCancelled()
