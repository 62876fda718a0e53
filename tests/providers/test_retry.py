"""Which failures are tried again: everything transient for a read, only what never reached the
server (no connection, or 429) for a request that creates something billed."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from story2video.providers.retry import RetryPolicy, send_with_retries

POLICY = RetryPolicy(3, 0.0, 0.0)
REQUEST = httpx.Request("POST", "http://cloud.test/tasks")


def sender(*outcomes):
    """A ``send`` that gives ``outcomes`` in turn (an exception is raised), counting its calls."""
    calls: list[int] = []

    async def send() -> httpx.Response:
        calls.append(1)
        outcome = outcomes[min(len(calls), len(outcomes)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return httpx.Response(outcome, request=REQUEST)

    return send, calls


def run(send, **options) -> httpx.Response:
    return asyncio.run(send_with_retries(send, POLICY, "the test call", **options))


def test_a_read_is_tried_again_on_5xx_and_broken_connections() -> None:
    send, calls = sender(httpx.ReadError("reset", request=REQUEST), 503, 200)
    assert run(send).status_code == 200 and len(calls) == 3


def test_a_creating_request_is_not_tried_again_once_it_may_have_arrived() -> None:
    send, calls = sender(503, 200)
    assert run(send, creates=True).status_code == 503 and len(calls) == 1
    send, calls = sender(httpx.ReadError("reset", request=REQUEST), 200)
    with pytest.raises(httpx.ReadError):
        run(send, creates=True)
    assert len(calls) == 1


def test_a_creating_request_is_tried_again_when_it_cannot_have_arrived() -> None:
    send, calls = sender(httpx.ConnectError("refused", request=REQUEST), 429, 200)
    assert run(send, creates=True).status_code == 200 and len(calls) == 3


def test_an_answer_marked_final_is_not_tried_again() -> None:
    send, calls = sender(429, 200)
    assert run(send, final=lambda response: response.status_code == 429).status_code == 429 and len(calls) == 1
