"""Liveness, readiness of every configured backend, and a few Prometheus metrics."""

from __future__ import annotations

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
    running, waiting = engine.operations.runner.load()
    body = {
        "ready": all(status.ready for status in statuses),
        "mode": "local" if settings.local_inference else "cloud",
        "backends": [status.__dict__ for status in statuses],
        "ffmpeg": str(engine.deps.ffmpeg),
        "queue": {"running": running, "waiting": waiting, "max_queued": settings.max_queued_operations},
    }
    return JSONResponse(status_code=200 if body["ready"] else 503, content=body)


@router.get("/metrics", response_class=PlainTextResponse, dependencies=[Depends(authenticate)])
def metrics(engine: EngineDep) -> str:
    running, waiting = engine.operations.runner.load()
    rows = engine.deps.stories.db.fetch_all("SELECT kind, status, COUNT(*) AS n FROM operations GROUP BY kind, status")
    lines = [
        "# TYPE story2video_operations_running gauge",
        f"story2video_operations_running {running}",
        "# TYPE story2video_operations_waiting gauge",
        f"story2video_operations_waiting {waiting}",
        "# TYPE story2video_operations_total counter",
    ]
    lines += [f'story2video_operations_total{{kind="{r["kind"]}",status="{r["status"]}"}} {r["n"]}' for r in rows]
    return "\n".join(lines) + "\n"
