"""Operations: idempotent submission, execution with one outcome each, cancel, waiting, and what
happens to work whose process was lost.

An operation is identified by its ``OperationKey`` (user_id, operation_id): each user chooses their
own operation ids, and one user's id says nothing about another's. Its row in the database is the
truth every process shares; trackers change it with guarded updates (see jobs/tracker.py).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator, Awaitable, Callable, Sequence

from loguru import logger

from story2video.errors import Conflict, InvalidRequest, NotFound, OperationCancelled, Story2VideoError, describe_exception
from story2video.jobs.events import EventLog
from story2video.jobs.keys import OperationKey
from story2video.jobs.leases import LeaseKeeper
from story2video.jobs.runner import JobRunner
from story2video.jobs.states import UNFINISHED_STATUSES, OperationStatus, ShotState
from story2video.jobs.tracker import CANCELLED_ERROR, OperationTracker
from story2video.pipeline.cache import request_hash
from story2video.storage.db import DuplicateKey
from story2video.storage.operations import OperationRepository
from story2video.storage.records import OperationRecord
from story2video.turns import turns
from story2video.util.locks import KeyedLocks

OperationWork = Callable[[OperationTracker], Awaitable[object]]

INTERRUPTED_MESSAGE = (
    "the service stopped while this operation was running; finished artifacts are kept and will be reused: "
    "send the request again with a new operation_id"
)
LOCAL_HOLDER = "local"  # the lease holder of an operation queued or running in a single process
WAIT_POLL_S = 1.0  # a waiting request re-reads the row this often even when no event arrives


class OperationService:
    def __init__(
        self,
        repo: OperationRepository,
        events: EventLog,
        runner: JobRunner,
        leases: LeaseKeeper,
        stage_plans: dict[str, Sequence[tuple[str, float]]],
    ):
        self.repo = repo
        self.events = events
        self.runner = runner
        self.leases = leases
        self.stage_plans = stage_plans
        self.executor: OperationWork | None = None  # the whole work of an operation in this process (the engine's)
        self._live: dict[OperationKey, list[OperationTracker]] = {}
        self._story_locks = KeyedLocks()
        runner.attach(self.run)

    # ------------------------------------------------------------ submitting and reading

    def submit(
        self, *, operation_id: str, kind: str, user_id: str, story_id: str, body: dict, stored_body: dict | None = None
    ) -> OperationRecord:
        """Start the operation, or return the one this user already started under this id with the same body.

        The row's primary key decides between two replicas that receive the same id at once.
        ``stored_body`` is what the work runs from (``body`` plus what was chosen now, e.g. a seed).
        """
        digest = request_hash(kind, body)
        key = OperationKey(user_id, operation_id)
        known = self.repo.get(*key)
        if known is not None:
            return self._same_request(known, digest)
        self.runner.check_capacity()
        record = OperationRecord(
            operation_id=operation_id,
            kind=kind,
            user_id=user_id,
            story_id=story_id,
            request_hash=digest,
            request=stored_body if stored_body is not None else body,
            status=OperationStatus.QUEUED.value,
            stage="queued",
            progress=0.0,
        )
        try:
            self.repo.insert(record)
        except DuplicateKey:
            return self._same_request(self.repo.get(*key), digest)
        if self.runner.holds_queued:
            self.leases.take(key, record.attempt, LOCAL_HOLDER)
        try:
            self.runner.submit(key, record.attempt)
        except Story2VideoError as error:
            self._abandon(key, record, error)
            raise
        return record

    def _same_request(self, known: OperationRecord | None, digest: str) -> OperationRecord:
        if known is None:  # deleted between the insert that failed and this read
            raise Conflict("the operation_id is being used by a request that just ended; use a new operation_id", code="operation_id_conflict")
        if known.request_hash != digest:
            raise Conflict(
                f"operation_id '{known.operation_id}' was already used for a different request; use a new operation_id",
                code="operation_id_conflict",
            )
        return known

    def _abandon(self, key: OperationKey, record: OperationRecord, error: Story2VideoError) -> None:
        """Nothing will run an operation the runner refused: end it, so that it never sits queued forever."""
        self.repo.finish(key, record.attempt, OperationStatus.FAILED.value, error=error.to_dict())
        if self.runner.holds_queued:
            self.leases.release(key, LOCAL_HOLDER)

    def get(self, key: OperationKey) -> OperationRecord:
        record = self.repo.get(*key)
        if record is None:
            raise NotFound(f"operation '{key.operation_id}' does not exist")
        return record

    def find(self, operation_id: str, user_id: str | None) -> OperationRecord:
        """The operation ``operation_id`` of ``user_id``; without a user, the only operation with that id.

        An id that several users chose needs the user named (400): no caller is handed another
        user's operation by chance.
        """
        if user_id is not None:
            return self.get(OperationKey(user_id, operation_id))
        users = self.repo.users_with_id(operation_id, limit=2)
        if len(users) > 1:
            raise InvalidRequest(
                f"more than one user has an operation '{operation_id}': say whose with ?user_id=", param="user_id"
            )
        if not users:
            raise NotFound(f"operation '{operation_id}' does not exist")
        return self.get(OperationKey(users[0], operation_id))

    async def wait(self, key: OperationKey, timeout_s: float) -> OperationRecord:
        """The operation once it has ended, or as it stands after ``timeout_s``, wherever it runs."""
        queue = self.events.hub.subscribe(key)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                record = await asyncio.to_thread(self.get, key)
                remaining = deadline - time.monotonic()
                if OperationStatus(record.status).is_terminal or remaining <= 0:
                    return record
                try:
                    await asyncio.wait_for(queue.get(), timeout=min(WAIT_POLL_S, remaining))
                except asyncio.TimeoutError:
                    pass
                while not queue.empty():
                    queue.get_nowait()
        finally:
            self.events.hub.unsubscribe(key, queue)

    # ------------------------------------------------------------ cancel

    def cancel(self, key: OperationKey) -> OperationRecord:
        """Flag the operation and stop it wherever it runs.

        In this process's runner a queued operation ends at once and a running one ends when its work
        stops. Handed to workers, it ends at once whatever its status: its tasks still queued are
        revoked, and the workers running the others see the end at their next heartbeat (about a
        second) and stop; nothing they do afterwards changes the operation.
        """
        record = self.get(key)
        if OperationStatus(record.status).is_terminal:
            raise Conflict(f"operation '{key.operation_id}' already finished as {record.status}", code="operation_finished")
        self.repo.request_cancel(key)
        for tracker in self._live.get(key, ()):
            tracker.request_cancel()
        ended = self.repo.finish(
            key, None, OperationStatus.CANCELLED.value,
            error={**CANCELLED_ERROR, "stage": record.stage}, unfinished_shots=ShotState.CANCELLED.value,
            only_from=(OperationStatus.QUEUED.value,) if self.runner.holds_queued else None,
        )  # fmt: skip
        if ended is not None:
            self.events.publish(key, "operation.cancelled", {"status": ended.status, "error": ended.error})
            logger.info("operation {} cancelled at stage {}", key, record.stage)
            self.runner.revoke(ended)
        return self.get(key)

    def pull_remote_changes(self) -> None:
        """Hand cancels requested through another process (and ends decided elsewhere) to the work here."""
        keys = list(self._live)
        for key, (status, attempt, cancel_requested) in self.repo.states(keys).items():
            if cancel_requested or OperationStatus(status).is_terminal:
                for tracker in self._live.get(key, ()):
                    if not tracker.is_cancelled():
                        logger.info("operation {} was cancelled elsewhere; stopping its work here", key)
                    tracker.request_cancel()

    # ------------------------------------------------------------ running

    def tracker(self, record: OperationRecord) -> OperationTracker:
        return OperationTracker(record, self.repo, self.events, self.stage_plans.get(record.kind, ()))

    @asynccontextmanager
    async def working_on(self, key: OperationKey, attempt: int, holder: str) -> AsyncIterator[OperationTracker | None]:
        """A tracker for attempt ``attempt``, leased to this process while the block runs; None when that
        attempt is no longer the operation's (taken over, or already ended)."""
        record = await asyncio.to_thread(self.repo.get, *key)
        if record is None or record.attempt != attempt or OperationStatus(record.status).is_terminal:
            logger.info("operation {} attempt {} has nothing left to do here", key, attempt)
            yield None
            return
        await asyncio.to_thread(self.leases.take, key, attempt, holder)
        tracker = self.tracker(record)
        self._live.setdefault(key, []).append(tracker)
        try:
            with logger.contextualize(operation_id=str(key)), turns.running(record.created_at):
                yield tracker
        finally:
            trackers = self._live.get(key, [])
            trackers.remove(tracker)
            if not trackers:
                self._live.pop(key, None)
            await asyncio.to_thread(self.leases.release, key, holder)

    async def run(self, key: OperationKey) -> None:
        """The whole operation in this process (the local runner's work): queued here, leased here."""
        record = await asyncio.to_thread(self.repo.get, *key)
        if record is None:
            return
        try:
            async with self._story_locks.hold(f"{record.user_id}/{record.story_id}"):
                async with self.working_on(key, record.attempt, LOCAL_HOLDER) as tracker:
                    if tracker is not None:
                        await self.perform(tracker, self._executor())
        finally:
            await asyncio.to_thread(self.leases.release, key, LOCAL_HOLDER)

    def _executor(self) -> OperationWork:
        if self.executor is None:
            raise RuntimeError("OperationService.executor is not set: the engine sets it when it is built")
        return self.executor

    async def perform(self, tracker: OperationTracker, work: OperationWork, *, finishes: bool = True) -> object | None:
        """Run ``work`` for the operation; its failure or cancel ends the operation. When ``finishes``, its
        result is the operation's; otherwise more work follows elsewhere. None when it did not succeed."""
        if tracker.is_cancelled():
            tracker.cancelled()
            return None
        if tracker.status is OperationStatus.QUEUED:
            tracker.start()
            logger.info("operation {} ({}) started, attempt {}", tracker.operation_id, tracker.record.kind, tracker.attempt)
        if tracker.stale:
            return None
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
            tracker.fail(Story2VideoError(f"internal error: {describe_exception(error, with_type=True)}", stage=tracker.record.stage))
        else:
            if finishes:
                tracker.succeed(result)
                logger.info("operation succeeded")
            return result
        return None

    # ------------------------------------------------------------ lost work

    def take_over(self, key: OperationKey, lost_attempt: int) -> bool:
        """Run the operation again as a new attempt (finished artifacts are reused, remote jobs resumed)."""
        if not self.repo.take_over(key, lost_attempt):
            return False
        self.events.publish(key, "operation.resumed", {"status": OperationStatus.QUEUED.value, "attempt": lost_attempt + 1})
        logger.warning("operation {} taken over as attempt {}", key, lost_attempt + 1)
        self.runner.submit(key, lost_attempt + 1)
        return True

    def interrupt(self, key: OperationKey, lost_attempt: int | None) -> bool:
        """End an operation whose process died as failed, with a reason that says what to do."""
        record = self.repo.get(*key)
        stage = record.stage if record else "queued"
        error = {"code": "interrupted", "message": INTERRUPTED_MESSAGE, "stage": stage}
        ended = self.repo.finish(
            key, lost_attempt, OperationStatus.FAILED.value, error=error, unfinished_shots=ShotState.FAILED.value, shot_error=error
        )
        if ended is None:
            return False
        self.events.publish(key, "operation.failed", {"status": ended.status, "error": error})
        logger.warning("operation {} was interrupted at stage {}; marked failed", key, stage)
        return True

    def recover_after_restart(self, every_unfinished: bool) -> int:
        """Single process, at start-up: mark interrupted the unfinished operations nobody else can still be
        running. ``every_unfinished`` when the data lock proves the previous holder of this database dead
        (a SQLite file); otherwise only those without a lease (queued in a process that died)."""
        count = 0
        for record in self.repo.unfinished(UNFINISHED_STATUSES):
            key = OperationKey(record.user_id, record.operation_id)
            if (every_unfinished or not self.leases.repo.holders(*key)) and self.interrupt(key, None):
                count += 1
                self.leases.repo.drop(*key)
        return count
