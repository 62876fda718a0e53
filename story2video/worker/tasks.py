"""The Celery tasks of a worker. Each names its operation and attempt; a task of an attempt that was
taken over, or of an operation that ended (cancelled, failed), does nothing.

A render is spread over the workers: ``run_operation`` plans it and sends, per shot, a chain of
``shot_media`` (gpu queue) and ``shot_segment`` (compose queue), joined by a chord whose body is
``join_render`` (compose queue): the final join runs once every shot has reported.
"""

from __future__ import annotations

from celery import Celery, chain, chord

from story2video.jobs.celery_app import JOIN_RENDER, QUEUE_COMPOSE, QUEUE_GPU, RUN_OPERATION, SHOT_MEDIA, SHOT_SEGMENT, task_id
from story2video.jobs.keys import OperationKey
from story2video.jobs.states import OperationKind
from story2video.worker.runtime import WorkerRuntime


def register_tasks(celery: Celery, runtime: WorkerRuntime) -> None:
    operations = runtime.engine.operations
    engine = runtime.engine

    async def run(key: OperationKey, attempt: int, holder: str) -> str:
        async with operations.working_on(key, attempt, holder) as tracker:
            if tracker is None:
                return "nothing to do"
            if tracker.record.kind != OperationKind.RENDER_VIDEO.value:
                await operations.perform(tracker, engine.execute)
                return tracker.record.status
            shot_ids = await operations.perform(tracker, engine.begin_render, finishes=False)
            if shot_ids is not None:
                dispatch_render(celery, key, attempt, shot_ids)
            return "render dispatched" if shot_ids is not None else tracker.record.status

    async def media(key: OperationKey, attempt: int, shot_id: str, holder: str) -> dict:
        async with operations.working_on(key, attempt, holder) as tracker:
            if tracker is None:
                return {"shot_id": shot_id, "skipped": True}
            return await engine.render_shot_media(tracker, shot_id)

    async def segment(report: dict, key: OperationKey, attempt: int, shot_id: str, holder: str) -> dict:
        async with operations.working_on(key, attempt, holder) as tracker:
            if tracker is None:
                return {"shot_id": shot_id, "skipped": True}
            return await engine.render_shot_segment(tracker, shot_id, report)

    async def join(reports: list[dict], key: OperationKey, attempt: int, holder: str) -> str:
        async with operations.working_on(key, attempt, holder) as tracker:
            if tracker is None:
                return "nothing to do"
            await operations.perform(tracker, lambda t: engine.finish_render(t, reports))
            return tracker.record.status

    @celery.task(name=RUN_OPERATION, bind=True)
    def run_operation(self, user_id: str, operation_id: str, attempt: int) -> str:
        return runtime.call(run(OperationKey(user_id, operation_id), attempt, self.request.id))

    @celery.task(name=SHOT_MEDIA, bind=True)
    def shot_media(self, user_id: str, operation_id: str, attempt: int, shot_id: str) -> dict:
        return runtime.call(media(OperationKey(user_id, operation_id), attempt, shot_id, self.request.id))

    @celery.task(name=SHOT_SEGMENT, bind=True)
    def shot_segment(self, report: dict, user_id: str, operation_id: str, attempt: int, shot_id: str) -> dict:
        return runtime.call(segment(report, OperationKey(user_id, operation_id), attempt, shot_id, self.request.id))

    @celery.task(name=JOIN_RENDER, bind=True)
    def join_render(self, reports: list[dict], user_id: str, operation_id: str, attempt: int) -> str:
        return runtime.call(join(reports, OperationKey(user_id, operation_id), attempt, self.request.id))


def dispatch_render(celery: Celery, key: OperationKey, attempt: int, shot_ids: list[str]) -> None:
    args = (key.user_id, key.operation_id, attempt)
    per_shot = [
        chain(
            celery.signature(SHOT_MEDIA, args=(*args, shot_id), queue=QUEUE_GPU, task_id=task_id(key, attempt, "media", shot_id), immutable=True),
            celery.signature(SHOT_SEGMENT, args=(*args, shot_id), queue=QUEUE_COMPOSE, task_id=task_id(key, attempt, "segment", shot_id)),
        )
        for shot_id in shot_ids
    ]
    join = celery.signature(JOIN_RENDER, args=args, queue=QUEUE_COMPOSE, task_id=task_id(key, attempt, "join"))
    chord(per_shot)(join)
