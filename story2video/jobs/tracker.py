"""Live state of one operation: stage, progress, per-shot states, cancel flag, terminal outcome.

Every change is persisted (progress throttled) and published as an event, in that order, so a
client that reads the operation after an event always sees at least that event's state.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Sequence

from loguru import logger

from story2video.errors import Story2VideoError
from story2video.jobs.events import Event, EventHub
from story2video.jobs.keys import OperationKey
from story2video.jobs.states import OperationStatus, ShotState
from story2video.providers.base import StageContext
from story2video.storage.operations import OperationRepository
from story2video.storage.records import OperationRecord

PROGRESS_PERSIST_INTERVAL_S = 0.5


class OperationTracker:
    def __init__(self, record: OperationRecord, repo: OperationRepository, hub: EventHub):
        self.record = record
        self._repo = repo
        self._hub = hub
        self._seq = 0
        self._cancel = threading.Event()
        self._done = asyncio.Event()
        self._stages: dict[str, tuple[float, float]] = {}  # stage -> (start, weight) within 0..1
        self._shot_fractions: dict[str, float] = {}
        self._last_persist = 0.0
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
    def status(self) -> OperationStatus:
        return OperationStatus(self.record.status)

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    async def wait(self) -> None:
        await self._done.wait()

    # ------------------------------------------------------------ lifecycle

    def plan(self, stages: Sequence[tuple[str, float]]) -> None:
        """Declare the stages and their share of the progress bar (weights are normalised)."""
        total = sum(weight for _, weight in stages) or 1.0
        start = 0.0
        for name, weight in stages:
            self._stages[name] = (start, weight / total)
            start += weight / total

    def start(self) -> None:
        self.record.status = OperationStatus.RUNNING.value
        self._persist_and_publish("operation.started", {"status": self.record.status})

    def enter_stage(self, stage: str, shot_ids: Sequence[str] = ()) -> None:
        self.record.stage = stage
        self._shot_fractions = {shot_id: 0.0 for shot_id in shot_ids}
        self.record.progress = max(self.record.progress, self._stages.get(stage, (self.record.progress, 0))[0])
        logger.info("stage {} ({} shots)", stage, len(shot_ids))
        self._persist_and_publish("stage", {"stage": stage, "progress": self.record.progress})

    def request_cancel(self) -> None:
        self._cancel.set()

    def succeed(self, result: dict) -> None:
        self.record.result = result
        self.record.progress = 1.0
        self._finish(OperationStatus.SUCCESS, "operation.completed", {"result": result})

    def fail(self, error: Story2VideoError) -> None:
        self.record.error = error.to_dict()
        self._finish(OperationStatus.FAILED, "operation.failed", {"error": self.record.error})

    def cancelled(self) -> None:
        for info in self.record.shots.values():
            if info.get("state") in (ShotState.WAITING.value, ShotState.WORKING.value):
                info["state"] = ShotState.CANCELLED.value
        self.record.error = {"code": "operation_cancelled", "message": "the operation was cancelled", "stage": self.record.stage}
        self._finish(OperationStatus.CANCELLED, "operation.cancelled", {"error": self.record.error})

    # ------------------------------------------------------------ shots and progress

    def set_shot(self, shot_id: str, state: ShotState, **data: object) -> None:
        entry = {"state": state.value, **{k: v for k, v in data.items() if v is not None}}
        self.record.shots[shot_id] = entry
        if state is ShotState.FAILED:
            logger.warning("shot {} failed: {}", shot_id, entry.get("error", {}).get("message", ""))
        if state in (ShotState.DONE, ShotState.FAILED) and shot_id in self._shot_fractions:
            self._shot_fractions[shot_id] = 1.0
            self._recompute_stage_progress()
        self._persist_and_publish("shot", {"shot_id": shot_id, "stage": self.record.stage, **entry})

    def context(self, shot_id: str | None = None, span: tuple[float, float] = (0.0, 1.0)) -> StageContext:
        """A provider context whose progress moves this operation's bar within the current stage.

        ``span`` is the slice of the shot's (or stage's) own 0..1 that this piece of work covers.
        """
        low, high = span

        def progress(fraction: float) -> None:
            fraction = low + (high - low) * min(max(float(fraction), 0.0), 1.0)
            if shot_id is not None and shot_id in self._shot_fractions:
                self._shot_fractions[shot_id] = fraction
                self._recompute_stage_progress()
            else:
                self._set_stage_fraction(fraction)

        return StageContext(progress=progress, is_cancelled=self.is_cancelled)

    def _recompute_stage_progress(self) -> None:
        fractions = self._shot_fractions.values()
        self._set_stage_fraction(sum(fractions) / len(fractions) if fractions else 1.0)

    def _set_stage_fraction(self, fraction: float) -> None:
        start, weight = self._stages.get(self.record.stage, (self.record.progress, 0.0))
        value = round(min(start + weight * fraction, 0.999), 4)
        if value <= self.record.progress:
            return
        self.record.progress = value
        now = time.monotonic()
        if now - self._last_persist >= PROGRESS_PERSIST_INTERVAL_S:
            self._persist_and_publish("progress", {"stage": self.record.stage, "progress": value})

    # ------------------------------------------------------------ internals

    def _finish(self, status: OperationStatus, event_type: str, data: dict) -> None:
        if self.status.is_terminal:
            logger.warning("operation {} already finished as {}; ignoring {}", self.key, self.status, status)
            return
        self.record.status = status.value
        self._persist_and_publish(event_type, {"status": status.value, **data})
        self._done.set()

    def _persist_and_publish(self, event_type: str, data: dict) -> None:
        self._repo.save(self.record)
        self._last_persist = time.monotonic()
        self._seq += 1
        self._hub.publish(self.key, Event(seq=self._seq, type=event_type, data=data))
