"""Operation status, live events and cancel."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from fastapi.responses import StreamingResponse

from story2video.api.auth import Principal, PrincipalDep
from story2video.api.deps import OperationsDep
from story2video.api.schemas import ID_PATTERN, ErrorResponse, Operation
from story2video.api.sse import operation_events
from story2video.api.urls import LinksDep
from story2video.jobs.operations import OperationService
from story2video.jobs.tracker import OperationTracker
from story2video.presenters import operation_view

router = APIRouter(prefix="/api/v1/operations", tags=["operations"])
OperationId = Path(pattern=ID_PATTERN)
_RESPONSES = {401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}}


def _visible(operations: OperationService, operation_id: str, principal: Principal) -> OperationTracker:
    tracker = operations.get(operation_id)
    principal.require_visible(tracker.record.user_id, f"operation '{operation_id}'")
    return tracker


@router.get("/{operation_id}", response_model=Operation, responses=_RESPONSES)
async def get_operation(operations: OperationsDep, principal: PrincipalDep, links: LinksDep, operation_id: str = OperationId):
    """Status, stage, progress 0..1, per-shot states, error and (once done) the seed-shaped result."""
    # async: a small in-memory or single-row SQLite read; no thread-pool hop on the hottest route.
    return links.absolutize(operation_view(_visible(operations, operation_id, principal).record))


@router.get(
    "/{operation_id}/events",
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}, **_RESPONSES},
)
def operation_event_stream(
    request: Request, operations: OperationsDep, principal: PrincipalDep, links: LinksDep, operation_id: str = OperationId
):
    """`snapshot`, then `operation.started`, `stage`, `progress`, `shot`, and one of `operation.completed` /
    `operation.failed` / `operation.cancelled`, after which the stream ends."""
    _visible(operations, operation_id, principal)  # 404 before the stream starts
    stream = operation_events(operation_id, operations, request.app.state.hub, links.absolutize)
    return StreamingResponse(stream, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/{operation_id}/cancel", response_model=Operation, status_code=202, responses=_RESPONSES)
def cancel_operation(operations: OperationsDep, principal: PrincipalDep, links: LinksDep, operation_id: str = OperationId):
    """Ask a queued or running operation to stop; it ends as `Cancelled` and writes no final video."""
    _visible(operations, operation_id, principal)
    return links.absolutize(operation_view(operations.cancel(operation_id).record))


@router.delete("/{operation_id}", response_model=Operation, status_code=202, responses=_RESPONSES)
def delete_operation(operations: OperationsDep, principal: PrincipalDep, links: LinksDep, operation_id: str = OperationId):
    """Same as `POST /{operation_id}/cancel`."""
    return cancel_operation(operations, principal, links, operation_id)
