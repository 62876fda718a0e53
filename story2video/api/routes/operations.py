"""Operation status, live events and cancel."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Path, Request
from fastapi.responses import StreamingResponse

from story2video.api.deps import OperationsDep, SettingsDep
from story2video.api.schemas import ID_PATTERN, ErrorResponse, Operation
from story2video.api.sse import operation_events
from story2video.api.urls import absolutize, base_url
from story2video.presenters import operation_view

router = APIRouter(prefix="/api/v1/operations", tags=["operations"])
OperationId = Path(pattern=ID_PATTERN)
_RESPONSES = {404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}}


@router.get("/{operation_id}", response_model=Operation, responses=_RESPONSES)
def get_operation(request: Request, operations: OperationsDep, settings: SettingsDep, operation_id: str = OperationId):
    """Status, stage, progress 0..1, per-shot states, error and (once done) the seed-shaped result."""
    return absolutize(operation_view(operations.get(operation_id).record), base_url(request, settings))


@router.get(
    "/{operation_id}/events",
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}, **_RESPONSES},
)
def operation_event_stream(request: Request, operations: OperationsDep, settings: SettingsDep, operation_id: str = OperationId):
    """`snapshot`, then `operation.started`, `stage`, `progress`, `shot`, and one of `operation.completed` /
    `operation.failed` / `operation.cancelled`, after which the stream ends."""
    operations.get(operation_id)  # 404 before the stream starts
    stream = operation_events(
        operation_id, operations, request.app.state.hub, partial(absolutize, base=base_url(request, settings))
    )
    return StreamingResponse(stream, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/{operation_id}/cancel", response_model=Operation, status_code=202, responses=_RESPONSES)
def cancel_operation(request: Request, operations: OperationsDep, settings: SettingsDep, operation_id: str = OperationId):
    """Ask a queued or running operation to stop; it ends as `Cancelled` and writes no final video."""
    tracker = operations.cancel(operation_id)
    return absolutize(operation_view(tracker.record), base_url(request, settings))


@router.delete("/{operation_id}", response_model=Operation, status_code=202, responses=_RESPONSES)
def delete_operation(request: Request, operations: OperationsDep, settings: SettingsDep, operation_id: str = OperationId):
    """Same as `POST /{operation_id}/cancel`."""
    return cancel_operation(request, operations, settings, operation_id)
