"""Operation status, live events and cancel.

Operation ids are chosen per user: a lookup is for the caller's user (a scoped API key's, else the
``user_id`` query parameter); without either, an id that only one user has is found.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse

from story2video.api import examples
from story2video.api.auth import PrincipalDep
from story2video.api.deps import OperationsDep
from story2video.protocol import ID_PATTERN, ErrorResponse, Operation
from story2video.api.sse import operation_events
from story2video.api.urls import LinksDep
from story2video.jobs.tracker import OperationTracker
from story2video.presenters import operation_view

router = APIRouter(prefix="/api/v1/operations", tags=["operations"])
OperationId = Path(pattern=ID_PATTERN, openapi_examples=examples.parameter(examples.OPERATION_ID))
OperationUser = Query(
    None,
    pattern=ID_PATTERN,
    openapi_examples=examples.parameter(examples.USER_ID),
    description="The user who started the operation (operation ids are per user). Needed only when several users "
    "chose the same id; a key scoped to a user implies it. The `Location` of a started operation carries it.",
)
_RESPONSES = {400: {"model": ErrorResponse}, 401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}}


async def visible_operation(
    operations: OperationsDep, principal: PrincipalDep, operation_id: str = OperationId, user_id: str | None = OperationUser
) -> OperationTracker:
    """The caller's operation: another user's operation does not exist for a scoped key."""
    # async: a small in-memory or single-row SQLite read; no thread-pool hop on the hottest route.
    if principal.user_id is not None:
        principal.require_visible(user_id or principal.user_id, f"operation '{operation_id}'")
        user_id = principal.user_id
    return operations.find(operation_id, user_id)


VisibleOperation = Annotated[OperationTracker, Depends(visible_operation)]


@router.get("/{operation_id}", response_model=Operation, responses=_RESPONSES)
async def get_operation(tracker: VisibleOperation, links: LinksDep):
    """Status, stage, progress 0..1, per-shot states, error and (once done) the seed-shaped result."""
    return links.absolutize(operation_view(tracker.record))


@router.get(
    "/{operation_id}/events",
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}, **_RESPONSES},
)
def operation_event_stream(request: Request, tracker: VisibleOperation, operations: OperationsDep, links: LinksDep):
    """`snapshot`, then `operation.started`, `stage`, `progress`, `shot`, and one of `operation.completed` /
    `operation.failed` / `operation.cancelled`, after which the stream ends."""
    stream = operation_events(tracker.key, operations, request.app.state.hub, links.absolutize)  # 404 came before
    return StreamingResponse(stream, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/{operation_id}/cancel", response_model=Operation, status_code=202, responses=_RESPONSES)
def cancel_operation(tracker: VisibleOperation, operations: OperationsDep, links: LinksDep):
    """Ask a queued or running operation to stop; it ends as `Cancelled` and writes no final video.

    Takes no body: `curl -X POST …/cancel` is enough."""
    return links.absolutize(operation_view(operations.cancel(tracker.key).record))


@router.delete("/{operation_id}", response_model=Operation, status_code=202, responses=_RESPONSES)
def delete_operation(tracker: VisibleOperation, operations: OperationsDep, links: LinksDep):
    """Same as `POST /{operation_id}/cancel`."""
    return cancel_operation(tracker, operations, links)
