"""Operations: idempotent submission, execution with one outcome each, cancel, and crash recovery."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Awaitable, Callable, Sequence

from loguru import logger

from story2video.errors import Conflict, NotFound, OperationCancelled, Story2VideoError
from story2video.jobs.events import EventHub
from story2video.jobs.runner import JobRunner
from story2video.jobs.states import UNFINISHED_STATUSES, OperationStatus, ShotState
from story2video.jobs.tracker import OperationTracker
from story2video.pipeline.cache import request_hash
from story2video.storage.operations import OperationRepository
from story2video.storage.records import OperationRecord
from story2video.util.locks import KeyedLocks

OperationWork = Callable[[OperationTracker], Awaitable[dict]]

INTERRUPTED_MESSAGE = (
    "the service stopped while this operation was running; finished artifacts are kept and will be reused: "
    "send the request again with a new operation_id"
)
RECENTLY_FINISHED = 256  # finished operations answered from memory (clients poll them right after they end)


class OperationService:
    def __init__(self, repo: OperationRepository, hub: EventHub, runner: JobRunner):
        self.repo = repo
        self.hub = hub
        self.runner = runner
        self._live: dict[str, OperationTracker] = {}
        self._finished: OrderedDict[str, OperationTracker] = OrderedDict()
        self._story_locks = KeyedLocks()

    def submit(
        self,
        *,
        operation_id: str,
        kind: str,
        user_id: str,
        story_id: str,
        body: dict,
        stages: Sequence[tuple[str, float]],
        work: OperationWork,
    ) -> OperationTracker:
        """Start the operation, or return the one already started under this id with the same body.

        Synchronous on purpose: no await between the idempotency check and registration.
        """
        digest = request_hash(kind, body)
        known = self._known(operation_id)
        if known is not None:
            if known.record.request_hash != digest:
                raise Conflict(
                    f"operation_id '{operation_id}' was already used for a different request; use a new operation_id",
                    code="operation_id_conflict",
                )
            return known
        record = OperationRecord(
            operation_id=operation_id,
            kind=kind,
            user_id=user_id,
            story_id=story_id,
            request_hash=digest,
            request=body,
            status=OperationStatus.QUEUED.value,
            stage="queued",
            progress=0.0,
        )
        tracker = OperationTracker(record, self.repo, self.hub)
        tracker.plan(stages)
        self.runner.submit(operation_id, lambda: self._execute(tracker, work))
        self._live[operation_id] = tracker
        self.repo.insert(record)
        return tracker

    def get(self, operation_id: str) -> OperationTracker:
        tracker = self._known(operation_id)
        if tracker is None:
            raise NotFound(f"operation '{operation_id}' does not exist")
        return tracker

    def cancel(self, operation_id: str) -> OperationTracker:
        tracker = self.get(operation_id)
        if tracker.status.is_terminal:
            raise Conflict(f"operation '{operation_id}' already finished as {tracker.status.value}", code="operation_finished")
        tracker.request_cancel()
        return tracker

    def recover_interrupted(self) -> int:
        """Operations left unfinished by a previous process are failed with a clear reason."""
        stale = self.repo.unfinished(UNFINISHED_STATUSES)
        for record in stale:
            error = {"code": "interrupted", "message": INTERRUPTED_MESSAGE, "stage": record.stage}
            for info in record.shots.values():
                if info.get("state") in (ShotState.WAITING.value, ShotState.WORKING.value):
                    info["state"] = ShotState.FAILED.value
                    info["error"] = error
            record.status = OperationStatus.FAILED.value
            record.error = error
            self.repo.save(record)
            logger.warning("operation {} was interrupted at stage {}; marked failed", record.operation_id, record.stage)
        return len(stale)

    def _known(self, operation_id: str) -> OperationTracker | None:
        """The running or recently finished operation's tracker, else one over its stored record."""
        tracker = self._live.get(operation_id) or self._finished.get(operation_id)
        if tracker is not None:
            return tracker
        record = self.repo.get(operation_id)
        return OperationTracker(record, self.repo, self.hub) if record else None

    def _retire(self, tracker: OperationTracker) -> None:
        self._live.pop(tracker.operation_id, None)
        self._finished[tracker.operation_id] = tracker
        while len(self._finished) > RECENTLY_FINISHED:
            self._finished.popitem(last=False)

    async def _execute(self, tracker: OperationTracker, work: OperationWork) -> None:
        record = tracker.record
        with logger.contextualize(operation_id=tracker.operation_id):
            try:
                async with self._story_locks.hold(f"{record.user_id}/{record.story_id}"):
                    await self._run_work(tracker, work)
            finally:
                self._retire(tracker)

    async def _run_work(self, tracker: OperationTracker, work: OperationWork) -> None:
        if tracker.is_cancelled():
            tracker.cancelled()
            return
        tracker.start()
        logger.info("operation {} ({}) started", tracker.operation_id, tracker.record.kind)
        try:
            result = await work(tracker)
        except OperationCancelled:
            logger.info("operation cancelled at stage {}", tracker.record.stage)
            tracker.cancelled()
        except Story2VideoError as error:
            logger.error("operation failed at stage {}: {}", error.stage or tracker.record.stage, error.message)
            tracker.fail(error.with_context(stage=tracker.record.stage))
        except asyncio.CancelledError:
            tracker.fail(Story2VideoError("the service shut down while this operation was running", stage=tracker.record.stage))
            raise
        except Exception as error:
            logger.exception("operation crashed")
            tracker.fail(Story2VideoError(f"internal error: {type(error).__name__}: {error}", stage=tracker.record.stage))
        else:
            tracker.succeed(result)
            logger.info("operation succeeded")
