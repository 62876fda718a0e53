"""The one place where exceptions become HTTP responses: {"error": {code, message, param?, stage?}}."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from loguru import logger
from starlette.exceptions import HTTPException as StarletteHTTPException

from story2video import errors

_STATUS_BY_CLASS: list[tuple[type[errors.Story2VideoError], int]] = [
    (errors.PayloadTooLarge, 413),
    (errors.UnsupportedMedia, 415),
    (errors.InvalidRequest, 400),
    (errors.Unauthorized, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.QueueFull, 429),
    (errors.RateLimited, 429),
    (errors.QueueUnavailable, 503),
    (errors.Conflict, 409),
    (errors.OperationCancelled, 409),
    (errors.BackendUnavailable, 503),
    (errors.DatabaseUnavailable, 503),
    (errors.BackendTimeout, 504),
    (errors.BackendError, 502),
    (errors.StorageFull, 507),
    (errors.Story2VideoError, 500),
]


def _status_for_class(error_class: type[errors.Story2VideoError]) -> int:
    return next(status for cls, status in _STATUS_BY_CLASS if issubclass(error_class, cls))


def _error_classes(root: type[errors.Story2VideoError]) -> list[type[errors.Story2VideoError]]:
    return [root, *(sub for child in root.__subclasses__() for sub in _error_classes(child))]


# Operations store their error as a dict; its code finds the status again. "interrupted" is the
# code of operations failed at start-up because the previous process died.
_STATUS_BY_CODE = {cls.code: _status_for_class(cls) for cls in _error_classes(errors.Story2VideoError)}
_STATUS_BY_CODE["interrupted"] = 503


def status_for(error: errors.Story2VideoError) -> int:
    return _status_for_class(type(error))


def status_for_code(code: str) -> int:
    return _STATUS_BY_CODE.get(code, 500)


def error_response(status: int, body: dict, headers: dict | None = None, operation: dict | None = None) -> JSONResponse:
    content: dict = {"error": body}
    if operation is not None:
        content["operation"] = operation
    return JSONResponse(status_code=status, content=content, headers=headers)


def response_for(error: errors.Story2VideoError) -> JSONResponse:
    """The response for one of our errors: its status, body, and the headers its class calls for."""
    headers = None
    if isinstance(error, (errors.QueueFull, errors.RateLimited)):
        headers = {"Retry-After": str(error.retry_after)}
    elif isinstance(error, errors.Unauthorized):
        headers = {"WWW-Authenticate": 'Bearer realm="story2video"'}
    return error_response(status_for(error), error.to_dict(), headers)


async def _on_story2video_error(request: Request, error: errors.Story2VideoError) -> JSONResponse:
    response = response_for(error)
    if response.status_code >= 500:
        logger.error("{} {} -> {} {}", request.method, request.url.path, response.status_code, error.message)
    return response


def _field_name(location: tuple) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    return ".".join(parts)


async def _on_validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    first = error.errors()[0]
    param = _field_name(tuple(first.get("loc", ())))
    message = first.get("msg", "invalid value")
    if first.get("type") == "json_invalid":
        message = "the request body is not valid JSON"
    elif first.get("type") == "missing":
        message = f"{param} is required"
    elif param:
        message = f"{param}: {message}"
    body = {"code": "invalid_request", "message": message}
    if param:
        body["param"] = param
    return error_response(400, body)


async def _on_http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    codes = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type"}
    message = str(error.detail)
    if error.status_code == 400 and "parsing the body" in message:  # FastAPI's words for undecodable JSON
        message = "the request body cannot be read as JSON (invalid, not UTF-8, or nested too deeply)"
    body = {"code": codes.get(error.status_code, "http_error"), "message": message}
    headers = dict(getattr(error, "headers", None) or {})
    if error.status_code == 405:  # Starlette names only the first route matching the path
        headers["Allow"] = ", ".join(_methods_for_path(request))
    return error_response(error.status_code, body, headers or None)


def _methods_for_path(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(request.url.path):
            methods |= route_methods
    return sorted(methods)


async def _on_unexpected(request: Request, error: Exception) -> JSONResponse:
    logger.exception("unhandled error on {} {}", request.method, request.url.path)
    message = errors.without_paths(errors.describe_exception(error, with_type=True))
    return error_response(500, {"code": "internal_error", "message": message})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.Story2VideoError, _on_story2video_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
