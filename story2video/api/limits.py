"""Refuse oversized bodies and non-JSON bodies before any route reads them (pure ASGI middleware).

Paths that take a file as their body (uploads) have their own size limit and are streamed to the
route, which counts the bytes as it stores them; every other body is JSON, read whole first.
A request without a body (no Content-Length and no Transfer-Encoding, or Content-Length: 0, or a
chunked body that turns out empty) is never refused for its content type: `curl -X POST` works.
Authentication comes first (``api.auth.ApiKeyGate`` wraps this middleware).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BODY_METHODS = {"POST", "PUT", "PATCH"}


class RequestLimitsMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, json_prefix: str = "/api/", file_bodies: dict[str, int] | None = None):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.json_prefix = json_prefix
        self.file_bodies = file_bodies or {}  # path -> its own body limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        declared = _declared_length(headers)
        if declared == 0:  # no body: nothing to limit, no content type to check
            await self.app(scope, receive, send)
            return
        file_limit = self.file_bodies.get(scope["path"])
        if file_limit is not None:
            if declared is not None and declared > file_limit:
                await _refuse(send, 413, "payload_too_large", f"the upload is larger than {file_limit} bytes (MAX_UPLOAD_BYTES)")
                return
            await self.app(scope, receive, send)
            return
        if declared is not None and declared > self.max_body_bytes:
            await _refuse(send, 413, "payload_too_large", self._too_large_message())
            return
        not_json = scope["path"].startswith(self.json_prefix) and not _is_json(headers.get("content-type", ""))
        if not_json and declared is not None:
            await _refuse_not_json(send)
            return
        await self._forward_buffered(scope, receive, send, refuse_a_body=not_json)

    async def _forward_buffered(self, scope: Scope, receive: Receive, send: Send, *, refuse_a_body: bool) -> None:
        """Read the body (at most the limit), then hand it to the app in one piece.

        ``refuse_a_body``: the content type is not JSON; that is fine only if no body comes (chunked, empty)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _refuse(send, 413, "payload_too_large", self._too_large_message())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if refuse_a_body and size:
            await _refuse_not_json(send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    def _too_large_message(self) -> str:
        return f"the request body is larger than {self.max_body_bytes} bytes (MAX_BODY_BYTES)"


def _declared_length(headers: dict[str, str]) -> int | None:
    """The body's length as the headers declare it: 0 without Content-Length and Transfer-Encoding
    (HTTP/1.1 has no body then), None when unknown until read (chunked)."""
    declared = headers.get("content-length")
    if declared is not None and declared.strip().isdigit():
        return int(declared)
    if declared is None and "transfer-encoding" not in headers:
        return 0
    return None


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


async def _refuse_not_json(send: Send) -> None:
    await _refuse(send, 415, "unsupported_media_type", "send the request body as JSON (Content-Type: application/json)")


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode("utf-8")
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
