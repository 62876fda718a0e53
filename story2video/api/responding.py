"""How an operation becomes an HTTP response: 202 + Location at once, or wait and answer like the seed."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi.responses import JSONResponse

from story2video.api.errors import error_response, status_for_code
from story2video.api.urls import Links
from story2video.config import Settings
from story2video.jobs.keys import OperationKey
from story2video.jobs.operations import OperationService
from story2video.jobs.states import OperationStatus
from story2video.presenters import operation_info, operation_view
from story2video.storage.records import OperationRecord


def operation_location(record: OperationRecord) -> str:
    """Operation ids are per user: the link names the user, so it finds this operation whoever else chose the id."""
    return f"/api/v1/operations/{record.operation_id}?{urlencode({'user_id': record.user_id})}"


def accepted(record: OperationRecord, links: Links) -> JSONResponse:
    return JSONResponse(
        status_code=202,
        content=links.absolutize(operation_view(record)),
        headers={"Location": operation_location(record), "Preference-Applied": "respond-async"},
    )


async def respond(
    record: OperationRecord, operations: OperationService, links: Links, settings: Settings, prefer_async: bool
) -> JSONResponse:
    """The operation runs in the job runner (or on a worker) either way; a client that goes away does not cancel it."""
    if prefer_async:
        return accepted(record, links)
    record = await operations.wait(OperationKey(record.user_id, record.operation_id), settings.sync_wait_timeout_s)
    if not OperationStatus(record.status).is_terminal:
        return accepted(record, links)
    return finished(record, links)


def finished(record: OperationRecord, links: Links) -> JSONResponse:
    info = operation_info(record)
    if record.status == OperationStatus.SUCCESS.value:
        return JSONResponse(status_code=200, content=links.absolutize({"operation": info, **(record.result or {})}))
    error = record.error or {"code": "internal_error", "message": "the operation failed without an error record"}
    return error_response(status_for_code(error.get("code", "")), error, operation=info)
