"""Operations: idempotent submission, execution with one outcome each, cancel, and crash recovery.

An operation is identified by its ``OperationKey`` (user_id, operation_id): each user chooses their
own operation ids, and one user's id says nothing about another's.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Awaitable, Callable, Sequence

from loguru import logger

from story2video.errors import Conflict, InvalidRequest, NotFound, OperationCancelled, Story2VideoError
from story2video.jobs.events import EventHub
from story2video.jobs.keys import OperationKey
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
        self._live: dict[OperationKey, OperationTracker] = {}
        self._finished: OrderedDict[OperationKey, OperationTracker] = OrderedDict()
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
        """Start the operation, or return the one this user already started under this id with the same body.

        Synchronous on purpose: no await between the idempotency check and registration.
        """
        digest = request_hash(kind, body)
        key = OperationKey(user_id, operation_id)
        known = self._known(key)
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
        self.runner.submit(key, lambda: self._execute(tracker, work))
        self._live[key] = tracker
        self.repo.insert(record)
        return tracker

    def get(self, key: OperationKey) -> OperationTracker:
        tracker = self._known(key)
        if tracker is None:
            raise NotFound(f"operation '{key.operation_id}' does not exist")
        return tracker

    def find(self, operation_id: str, user_id: str | None) -> OperationTracker:
        """The operation ``operation_id`` of ``user_id``; without a user, the only operation with that id.

        An id that several users chose needs the user named (400): no caller is handed another
        user's operation by chance.
        """
        if user_id is not None:
            return self.get(OperationKey(user_id, operation_id))
        users = self._users_with_id(operation_id)
        if len(users) > 1:
            raise InvalidRequest(
                f"more than one user has an operation '{operation_id}': say whose with ?user_id=", param="user_id"
            )
        if not users:
            raise NotFound(f"operation '{operation_id}' does not exist")
        return self.get(OperationKey(users.pop(), operation_id))

    def cancel(self, key: OperationKey) -> OperationTracker:
        tracker = self.get(key)
        if tracker.status.is_terminal:
            raise Conflict(f"operation '{key.operation_id}' already finished as {tracker.status.value}", code="operation_finished")
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
            logger.warning("operation {}/{} was interrupted at stage {}; marked failed", record.user_id, record.operation_id, record.stage)
        return len(stale)

    def _known(self, key: OperationKey) -> OperationTracker | None:
        """The running or recently finished operation's tracker, else one over its stored record."""
        tracker = self._live.get(key) or self._finished.get(key)
        if tracker is not None:
            return tracker
        record = self.repo.get(key.user_id, key.operation_id)
        return OperationTracker(record, self.repo, self.hub) if record else None

    def _users_with_id(self, operation_id: str) -> set[str]:
        """Up to two users with an operation of this id (two are enough to know it is ambiguous).

        Live operations count too: one is registered here a moment before its row is written.
        """
        users = {key.user_id for key in list(self._live) if key.operation_id == operation_id}
        return users | set(self.repo.users_with_id(operation_id, limit=2))

    def _retire(self, tracker: OperationTracker) -> None:
        self._live.pop(tracker.key, None)
        self._finished[tracker.key] = tracker
        while len(self._finished) > RECENTLY_FINISHED:
            self._finished.popitem(last=False)

    async def _execute(self, tracker: OperationTracker, work: OperationWork) -> None:
        record = tracker.record
        with logger.contextualize(operation_id=str(tracker.key)):
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
