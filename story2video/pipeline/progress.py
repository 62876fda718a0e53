"""How the pipeline reports what it is doing, without knowing who listens.

The pipeline announces stages, per-shot states and fractions of work through ``Progress``; the job
layer above it (an operation's tracker, in this process or on a worker) is what implements it.
"""

from __future__ import annotations

from enum import Enum
from typing import Protocol, Sequence

from story2video.stagecontext import StageContext


class ShotState(str, Enum):
    WAITING = "waiting"
    WORKING = "working"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Progress(Protocol):
    def enter_stage(self, stage: str, shot_ids: Sequence[str] = ()) -> None:
        """A new stage begins; ``shot_ids`` are the shots whose fractions make up its progress."""
        ...

    def set_shot(self, shot_id: str, state: ShotState, **data: object) -> None:
        """A shot's state changed (``data``: its step, links or error)."""
        ...

    def context(self, shot_id: str | None = None, span: tuple[float, float] = (0.0, 1.0)) -> StageContext:
        """A context whose progress moves ``shot_id``'s fraction (or the stage's) within ``span``, and
        whose cancel check says whether the operation was cancelled."""
        ...

    def publish(self, event_type: str, data: dict) -> None:
        """An event of the stage's own (e.g. ``script.delta``): stored in order with the others, then sent."""
        ...
