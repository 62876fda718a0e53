"""Liveness, readiness of every configured backend, and a few Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, PlainTextResponse

from story2video.api.auth import authenticate
from story2video.api.deps import EngineDep, SettingsDep
from story2video.protocol import Readiness

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict:
    """The process is up and answering."""
    return {"status": "ok"}


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}}, dependencies=[Depends(authenticate)])
async def ready(engine: EngineDep, settings: SettingsDep) -> JSONResponse:
    """Which backend each stage uses, where it runs, and whether it can take work now (503 if any cannot)."""
    statuses = await engine.backend_statuses()
    load = await asyncio.to_thread(engine.operations.runner.load)
    queue = {"running": load.running, "waiting": load.waiting, "max_queued": settings.max_queued_operations}
    ready = all(status.ready for status in statuses)
    if settings.service_role != "all":
        queue.update(broker_queues=load.queues, workers=load.workers)
        ready = ready and bool(load.workers)
    body = {
        "ready": ready,
        "role": settings.service_role,
        "mode": "local" if settings.local_inference else "cloud",
        "backends": [status.__dict__ for status in statuses],
        "ffmpeg": str(engine.deps.ffmpeg),
        "queue": queue,
    }
    return JSONResponse(status_code=200 if ready else 503, content=body)


@router.get("/metrics", response_class=PlainTextResponse, dependencies=[Depends(authenticate)])
def metrics(engine: EngineDep) -> str:
    load = engine.operations.runner.load()
    rows = engine.deps.stories.db.fetch_all("SELECT kind, status, COUNT(*) AS n FROM operations GROUP BY kind, status")
    lines = [
        "# TYPE story2video_operations_running gauge",
        f"story2video_operations_running {load.running}",
        "# TYPE story2video_operations_waiting gauge",
        f"story2video_operations_waiting {load.waiting}",
        "# TYPE story2video_queue_depth gauge",
        *(f'story2video_queue_depth{{queue="{name}"}} {depth}' for name, depth in sorted(load.queues.items())),
        "# TYPE story2video_workers_live gauge",
        f"story2video_workers_live {len(load.workers)}",
        "# TYPE story2video_operations_total counter",
    ]
    lines += [f'story2video_operations_total{{kind="{r["kind"]}",status="{r["status"]}"}} {r["n"]}' for r in rows]
    return "\n".join(lines) + "\n"
