"""What long work is handed besides its inputs: a progress callback (0..1) and a cancel check.

It sits below every package that does long work (providers, media, pipeline), so each can take one
without importing the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from story2video.errors import OperationCancelled

ProgressCallback = Callable[[float], None]
CancelCheck = Callable[[], bool]


def _no_progress(_: float) -> None:
    return None


def _never_cancelled() -> bool:
    return False


@dataclass(frozen=True)
class StageContext:
    """What a provider may do besides its job: report progress (0..1) and notice a cancel."""

    progress: ProgressCallback = _no_progress
    is_cancelled: CancelCheck = _never_cancelled

    def raise_if_cancelled(self) -> None:
        if self.is_cancelled():
            raise OperationCancelled()
