"""One attempt at an operation as seen by the process doing (part of) its work: stage, progress,
per-shot states, the cancel flag and the outcome.

Several processes may work on one operation at once (the shots of a render run as separate tasks),
so nothing is written back as a whole row: each change is a small guarded update (only this
attempt, only while the operation is unfinished), then an event. A tracker whose attempt was taken
over after its lease expired writes nothing and publishes nothing (``stale``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Sequence

from loguru import logger

from story2video.errors import Story2VideoError
from story2video.jobs.events import EventLog
from story2video.jobs.keys import OperationKey
from story2video.jobs.states import OperationStatus, ShotState
from story2video.stagecontext import StageContext
from story2video.storage.operations import OperationRepository
from story2video.storage.records import OperationRecord

PROGRESS_PERSIST_INTERVAL_S = 0.5
CANCELLED_ERROR = {"code": "operation_cancelled", "message": "the operation was cancelled"}


def stage_spans(stages: Sequence[tuple[str, float]]) -> dict[str, tuple[float, float]]:
    """stage -> (start, weight) within 0..1, weights normalised."""
    total = sum(weight for _, weight in stages) or 1.0
    spans, start = {}, 0.0
    for name, weight in stages:
        spans[name] = (start, weight / total)
        start += weight / total
    return spans


class OperationTracker:
    def __init__(self, record: OperationRecord, repo: OperationRepository, events: EventLog, stages: Sequence[tuple[str, float]] = ()):
        self.record = record
        self._repo = repo
        self._events = events
        self._spans = stage_spans(stages)
        self._cancel = threading.Event()
        if record.cancel_requested:
            self._cancel.set()
        self._done = asyncio.Event()
        self._shot_fractions: dict[str, float] = {}
        self._last_persist = 0.0
        self.stale = False
        if self.status.is_terminal:
            self._done.set()

    # ------------------------------------------------------------ reading

    @property
    def operation_id(self) -> str:
        return self.record.operation_id

    @property
    def key(self) -> OperationKey:
        return OperationKey(self.record.user_id, self.record.operation_id)

    @property
    def attempt(self) -> int:
        return self.record.attempt

    @property
    def status(self) -> OperationStatus:
        return OperationStatus(self.record.status)

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    async def wait(self) -> None:
        await self._done.wait()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._change("operation.started", {"status": OperationStatus.RUNNING.value}, status=OperationStatus.RUNNING.value)

    def enter_stage(self, stage: str, shot_ids: Sequence[str] = ()) -> None:
        self._shot_fractions = {shot_id: 0.0 for shot_id in shot_ids}
        progress = max(self.record.progress, self._spans.get(stage, (self.record.progress, 0.0))[0])
        logger.info("stage {} ({} shots)", stage, len(shot_ids))
        self._change("stage", {"stage": stage, "progress": progress}, stage=stage, progress=progress)

    def request_cancel(self) -> None:
        self._cancel.set()

    def succeed(self, result: dict) -> None:
        self._finish(OperationStatus.SUCCESS, "operation.completed", result=result)

    def fail(self, error: Story2VideoError | dict) -> None:
        payload = error.to_dict() if isinstance(error, Story2VideoError) else error
        self._finish(OperationStatus.FAILED, "operation.failed", error=payload)

    def cancelled(self) -> None:
        self._finish(OperationStatus.CANCELLED, "operation.cancelled", error={**CANCELLED_ERROR, "stage": self.record.stage})

    # ------------------------------------------------------------ shots and progress

    def set_shot(self, shot_id: str, state: ShotState, **data: object) -> None:
        entry = {"state": state.value, **{k: v for k, v in data.items() if v is not None}}
        if state in (ShotState.DONE, ShotState.FAILED):
            entry["progress"] = 1.0
        elif shot_id in self._shot_fractions or state is ShotState.WORKING:
            entry["progress"] = round(self._shot_fractions.get(shot_id, 0.0), 4)
        if state is ShotState.FAILED:
            logger.warning("shot {} failed: {}", shot_id, entry.get("error", {}).get("message", ""))
        self._shot_fractions[shot_id] = entry.get("progress", 0.0)
        self._write_shot(shot_id, entry, "shot", {"shot_id": shot_id, "stage": self.record.stage, **entry})

    def context(self, shot_id: str | None = None, span: tuple[float, float] = (0.0, 1.0)) -> StageContext:
        """A provider context whose progress moves this operation's bar within the current stage.

        ``span`` is the slice of the shot's (or stage's) own 0..1 that this piece of work covers.
        """
        low, high = span

        def progress(fraction: float) -> None:
            fraction = low + (high - low) * min(max(float(fraction), 0.0), 1.0)
            if shot_id is not None:
                self._shot_fractions[shot_id] = fraction
                if self._due():
                    entry = {**self.record.shots.get(shot_id, {"state": ShotState.WORKING.value}), "progress": round(fraction, 4)}
                    self._write_shot(shot_id, entry, "progress", None)
            else:
                self._set_stage_fraction(fraction)

        return StageContext(progress=progress, is_cancelled=self.is_cancelled, first_come=self.record.created_at)

    def _set_stage_fraction(self, fraction: float) -> None:
        start, weight = self._spans.get(self.record.stage, (self.record.progress, 0.0))
        value = round(min(start + weight * fraction, 0.999), 4)
        if value <= self.record.progress or not self._due():
            return
        if self._guarded(self._repo.raise_progress(self.key, self.attempt, value)):
            self.record.progress = value
            self._publish("progress", {"stage": self.record.stage, "progress": value})

    def publish(self, event_type: str, data: dict) -> None:
        """An event the work itself announces (a script's text as it is written, say); dropped once stale."""
        if not self.stale:
            self._publish(event_type, data)

    # ------------------------------------------------------------ internals

    def _due(self) -> bool:
        return time.monotonic() - self._last_persist >= PROGRESS_PERSIST_INTERVAL_S

    def _write_shot(self, shot_id: str, entry: dict, event_type: str, data: dict | None) -> None:
        span = self._spans.get(self.record.stage)
        progress = self._repo.merge_shot(self.key, self.attempt, shot_id, entry, span)
        if not self._guarded(progress is not None):
            return
        self.record.shots[shot_id] = entry
        self.record.progress = max(self.record.progress, progress)
        self._publish(event_type, data if data is not None else {"stage": self.record.stage, "progress": self.record.progress})

    def _change(self, event_type: str, data: dict, **changes: object) -> None:
        if self._guarded(self._repo.update(self.key, self.attempt, **changes)):
            for name, value in changes.items():
                setattr(self.record, name, value)
            self._publish(event_type, data)

    def _finish(self, status: OperationStatus, event_type: str, *, error: dict | None = None, result: dict | None = None) -> None:
        if self.status.is_terminal:
            logger.warning("operation {} already finished as {}; ignoring {}", self.key, self.status.value, status.value)
            return
        shot_state = ShotState.CANCELLED if status is OperationStatus.CANCELLED else None
        finished = self._repo.finish(self.key, self.attempt, status.value, error=error, result=result, unfinished_shots=shot_state and shot_state.value)
        if self._guarded(finished is not None):
            self.record = finished
            self._publish(event_type, {"status": status.value, **({"result": result} if result is not None else {}), **({"error": error} if error else {})})
        self._done.set()

    def _guarded(self, written: bool) -> bool:
        """Whether a write landed; one that did not means another attempt owns the operation, or it ended."""
        if not written and not self.stale:
            self.stale = True
            logger.warning("operation {} attempt {} no longer owns it (taken over or finished elsewhere); its further changes are dropped", self.key, self.attempt)
        return written

    def _publish(self, event_type: str, data: dict) -> None:
        self._last_persist = time.monotonic()
        self._events.publish(self.key, event_type, data)
