"""The Celery application both sides share: the API enqueues by task name, workers run the tasks.

Configured for long work: a task is acknowledged only once it has finished (late acks) and one task
is fetched at a time (prefetch 1), so a worker that dies loses nothing; a task whose worker process
was lost is rejected back to the queue; the broker hands out again a task taken by a worker that
vanished only after a visibility timeout longer than the longest step. Leases (jobs/leases.py) notice
a lost worker much sooner and take its operation over.
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from story2video.config import Settings
from story2video.jobs.keys import OperationKey

QUEUE_OPERATIONS = "story2video.operations"  # a whole storyboard or regenerate; a render's plan
QUEUE_GPU = "story2video.gpu"  # one shot's model work: narration, keyframe, clip
QUEUE_COMPOSE = "story2video.compose"  # one shot's segment encode, and a render's final join
QUEUES = (QUEUE_OPERATIONS, QUEUE_GPU, QUEUE_COMPOSE)

RUN_OPERATION = "story2video.run_operation"
SHOT_MEDIA = "story2video.shot_media"
SHOT_SEGMENT = "story2video.shot_segment"
JOIN_RENDER = "story2video.join_render"
ROUTES = {RUN_OPERATION: QUEUE_OPERATIONS, SHOT_MEDIA: QUEUE_GPU, SHOT_SEGMENT: QUEUE_COMPOSE, JOIN_RENDER: QUEUE_COMPOSE}


def make_celery(settings: Settings) -> Celery:
    app = Celery("story2video", broker=settings.celery_broker_url, backend=settings.celery_broker_url, set_as_current=False)
    transport = {"visibility_timeout": settings.visibility_timeout_s}
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a worker waits for Redis to come back, however long
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue=QUEUE_OPERATIONS,
        task_routes={name: {"queue": queue} for name, queue in ROUTES.items()},
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=7 * 24 * 3600,
        task_publish_retry=True,
        task_publish_retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        enable_utc=True,
    )
    return app


def task_id(key: OperationKey, attempt: int, step: str, shot_id: str | None = None) -> str:
    """A task's id, derived from what it does: a cancel can revoke every task of an attempt by name."""
    return ":".join(part for part in (key.user_id, key.operation_id, str(attempt), shot_id, step) if part is not None)


def render_task_ids(key: OperationKey, attempt: int, shot_ids: list[str]) -> list[str]:
    ids = [task_id(key, attempt, "run"), task_id(key, attempt, "join")]
    for shot_id in shot_ids:
        ids += [task_id(key, attempt, "media", shot_id), task_id(key, attempt, "segment", shot_id)]
    return ids
