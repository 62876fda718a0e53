"""RequestLimitsMiddleware on its own: a request without a body is never refused for its content type;
a body that is there is limited in size and must be JSON."""

from __future__ import annotations

import asyncio
import json

import pytest

from story2video.api.limits import RequestLimitsMiddleware

LIMIT = 1024


async def _echo(scope, receive, send) -> None:
    """The app behind the middleware: answers 200 with the body it received."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _call(headers: dict[str, str], chunks: list[bytes], path: str = "/api/v1/operations/op-1/cancel") -> tuple[int, bytes]:
    """One POST through the middleware, the body arriving in ``chunks`` (as an ASGI server hands it over)."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(key.lower().encode(), value.encode()) for key, value in headers.items()],
    }
    pending = [{"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1} for index, chunk in enumerate(chunks)]
    pending = pending or [{"type": "http.request", "body": b"", "more_body": False}]
    sent: list[dict] = []

    async def receive() -> dict:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(RequestLimitsMiddleware(_echo, max_body_bytes=LIMIT)(scope, receive, send))
    return sent[0]["status"], b"".join(message.get("body", b"") for message in sent[1:])


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl -X POST: no Content-Length, no Transfer-Encoding, no Content-Type
        {"Content-Length": "0"},
        {"Content-Length": "0", "Content-Type": "text/plain"},
        {"Content-Length": "0", "Content-Type": "application/x-www-form-urlencoded"},  # curl -d ''
        {"Content-Type": "text/plain"},
    ],
)
def test_a_request_without_a_body_is_never_refused_for_its_content_type(headers):
    assert _call(headers, []) == (200, b"")


def test_an_empty_chunked_body_is_no_body():
    assert _call({"Transfer-Encoding": "chunked", "Content-Type": "text/plain"}, [b"", b""]) == (200, b"")


@pytest.mark.parametrize(
    "headers, chunks",
    [
        ({"Content-Length": "5", "Content-Type": "text/plain"}, [b"hello"]),
        ({"Content-Length": "5"}, [b"hello"]),
        ({"Transfer-Encoding": "chunked", "Content-Type": "text/plain"}, [b"hel", b"lo"]),
    ],
)
def test_a_body_that_is_there_must_be_json(headers, chunks):
    status, body = _call(headers, chunks)
    assert status == 415 and json.loads(body)["error"]["code"] == "unsupported_media_type"


def test_a_json_body_passes_whole():
    assert _call({"Transfer-Encoding": "chunked", "Content-Type": "application/json"}, [b'{"a":', b" 1}"]) == (200, b'{"a": 1}')


@pytest.mark.parametrize(
    "headers, chunks",
    [
        ({"Content-Length": str(LIMIT + 1), "Content-Type": "application/json"}, [b"x" * (LIMIT + 1)]),
        ({"Transfer-Encoding": "chunked", "Content-Type": "application/json"}, [b"x" * LIMIT, b"x"]),
        ({"Transfer-Encoding": "chunked", "Content-Type": "text/plain"}, [b"x" * LIMIT, b"x"]),
    ],
)
def test_a_body_over_the_limit_is_413(headers, chunks):
    status, body = _call(headers, chunks)
    assert status == 413 and json.loads(body)["error"]["code"] == "payload_too_large"
