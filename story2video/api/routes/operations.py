"""Operation status, live events and cancel.

Operation ids are chosen per user: a lookup is for the caller's user (a scoped API key's, else the
``user_id`` query parameter); without either, an id that only one user has is found.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import StreamingResponse

from story2video.api import examples
from story2video.api.auth import PrincipalDep
from story2video.api.deps import OperationsDep
from story2video.protocol import ID_PATTERN, ErrorResponse, Operation
from story2video.api.sse import operation_events, resume_after
from story2video.api.urls import LinksDep
from story2video.jobs.keys import OperationKey
from story2video.presenters import operation_view
from story2video.storage.records import OperationRecord

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


def visible_operation(
    operations: OperationsDep, principal: PrincipalDep, operation_id: str = OperationId, user_id: str | None = OperationUser
) -> OperationRecord:
    """The caller's operation: another user's operation does not exist for a scoped key."""
    if principal.user_id is not None:
        principal.require_visible(user_id or principal.user_id, f"operation '{operation_id}'")
        user_id = principal.user_id
    return operations.find(operation_id, user_id)


VisibleOperation = Annotated[OperationRecord, Depends(visible_operation)]


def _key(record: OperationRecord) -> OperationKey:
    return OperationKey(record.user_id, record.operation_id)


@router.get("/{operation_id}", response_model=Operation, responses=_RESPONSES)
def get_operation(record: VisibleOperation, links: LinksDep):
    """Status, stage, progress 0..1, per-shot states, error and (once done) the seed-shaped result."""
    return links.absolutize(operation_view(record))


@router.get(
    "/{operation_id}/events",
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}, **_RESPONSES},
)
def operation_event_stream(
    record: VisibleOperation,
    operations: OperationsDep,
    links: LinksDep,
    last_event_id: Annotated[str | None, Header(description="Resume after this event id (any API replica)", examples=["42"])] = None,
):
    """`snapshot`, then `operation.started`, `stage`, `progress`, `shot` (and `operation.resumed` when a worker
    took it over), and one of `operation.completed` / `operation.failed` / `operation.cancelled`, after which
    the stream ends. Every event has an `id`: reconnect (to any replica) with `Last-Event-ID` to get exactly
    the events after it, without a new snapshot."""
    stream = operation_events(_key(record), operations, links.absolutize, resume_after(last_event_id))  # 404 came before
    return StreamingResponse(stream, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/{operation_id}/cancel", response_model=Operation, status_code=202, responses=_RESPONSES)
def cancel_operation(record: VisibleOperation, operations: OperationsDep, links: LinksDep):
    """Ask a queued or running operation to stop, wherever it runs; it ends as `Cancelled` and writes no final video.

    Takes no body: `curl -X POST …/cancel` is enough."""
    return links.absolutize(operation_view(operations.cancel(_key(record))))


@router.delete("/{operation_id}", response_model=Operation, status_code=202, responses=_RESPONSES)
def delete_operation(record: VisibleOperation, operations: OperationsDep, links: LinksDep):
    """Same as `POST /{operation_id}/cancel`."""
    return cancel_operation(record, operations, links)
