"""Callbacks when an operation ends: signed, retried, recorded, kept over a restart, and refused on
addresses URL imports would refuse. The receiver is a real HTTP server that checks the signature."""

from __future__ import annotations

import json
import threading
import time

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from story2video.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.conftest import create_body
from tests.fakes.asgi_thread import ServerThread

SECRET = "request-secret-0123456789"


class Receiver:
    """Answers each POST with the next status of ``answers`` (the last one repeats) and keeps what came."""

    def __init__(self, answers=(200,)):
        self.answers = list(answers)
        self.received: list[dict] = []
        self.lock = threading.Lock()

        async def hook(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                status = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
                self.received.append({"path": request.url.path, "headers": dict(request.headers), "body": body})
            headers = {"Location": "/elsewhere"} if 300 <= status < 400 else {}
            return Response(status_code=status, headers=headers)

        self.server = ServerThread(Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])).start()

    @property
    def url(self) -> str:
        return self.server.url

    def signed_by(self, secret: str) -> list[bool]:
        return [
            verify(secret, item["headers"][TIMESTAMP_HEADER.lower()], item["body"], item["headers"][SIGNATURE_HEADER.lower()], time.time())
            for item in self.received
        ]


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(answers=(200,)) -> Receiver:
        made.append(Receiver(answers))
        return made[-1]

    yield make
    for item in made:
        item.server.stop()


def _settings(**overrides) -> dict:
    values = dict(
        webhook_url_hosts="127.0.0.1",
        webhook_allow_private=True,
        webhook_secret=SECRET,
        webhook_retry_base_s=0.05,
        webhook_poll_interval_s=0.05,
        public_base_url="http://testserver",
    )
    return {**values, **overrides}


def _callbacks(client, operation_id: str, until: str, timeout_s: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(f"/api/v1/operations/{operation_id}/callbacks", params={"user_id": "u-001"})
        assert response.status_code == 200, response.text
        found = response.json()
        if found and found[0]["status"] == until:
            return found
        assert time.monotonic() < deadline, f"callback never became {until}: {found}"
        time.sleep(0.05)


def test_a_request_callback_is_signed_and_carries_the_operation(make_client, receiver):
    hook = receiver()
    client = make_client(**_settings())
    created = client.post("/api/v1/storyboard/create", json=create_body(shot_count=1, callback_url=f"{hook.url}/hooks/story"))
    assert created.status_code == 200, created.text
    [delivery] = _callbacks(client, "op-001", "delivered")
    assert delivery["event"] == "operation.completed" and delivery["target"] == "request"
    assert [attempt["status_code"] for attempt in delivery["attempts"]] == [200]
    [call] = hook.received
    assert call["path"] == "/hooks/story" and hook.signed_by(SECRET) == [True]
    assert hook.signed_by("another-secret-0123456789") == [False]
    operation = client.get("/api/v1/operations/op-001", params={"user_id": "u-001"}).json()
    assert json.loads(call["body"]) == operation and operation["status"] == "Success"
    # A tampered body or an old timestamp does not verify.
    headers = call["headers"]
    assert not verify(SECRET, headers["x-story2video-timestamp"], call["body"] + b" ", headers["x-story2video-signature"], time.time())
    assert not verify(SECRET, headers["x-story2video-timestamp"], call["body"], headers["x-story2video-signature"], time.time() + 3600)


def test_a_registered_webhook_that_fails_twice_then_succeeds(make_client, receiver):
    hook = receiver([500, 302, 200])
    client = make_client(**_settings(webhook_secret=""))
    registered = client.put("/api/v1/users/u-001/webhook", json={"url": f"{hook.url}/mine"})
    assert registered.status_code == 200, registered.text
    secret = registered.json()["secret"]
    assert len(secret) >= 32
    shown = client.get("/api/v1/users/u-001/webhook").json()
    assert shown["url"] == f"{hook.url}/mine" and shown["secret"] is None
    assert client.post("/api/v1/storyboard/create", json=create_body(shot_count=1)).status_code == 200
    [delivery] = _callbacks(client, "op-001", "delivered")
    attempts = delivery["attempts"]
    assert delivery["target"] == "user" and [attempt["status_code"] for attempt in attempts] == [500, 302, 200]
    assert "HTTP 500" in attempts[0]["error"] and "redirects are not followed" in attempts[1]["error"] and attempts[2]["error"] is None
    assert attempts[1]["started_at"] - attempts[0]["started_at"] >= 0.05  # waited before retrying
    assert [call["path"] for call in hook.received] == ["/mine"] * 3  # the redirect was not followed
    assert hook.signed_by(secret) == [True] * 3
    assert len({call["body"] for call in hook.received}) == 1  # every retry sends the same body
    assert client.delete("/api/v1/users/u-001/webhook").status_code == 204
    assert client.get("/api/v1/users/u-001/webhook").status_code == 404


def test_a_callback_on_a_private_address_is_refused(make_client, receiver):
    client = make_client(**_settings(webhook_url_hosts="10.0.0.7,localhost", webhook_allow_private=False))
    refused = client.post("/api/v1/storyboard/create", json=create_body(callback_url="http://10.0.0.7/hook"))
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "url_not_allowed" and error["param"] == "callback_url" and "private" in error["message"]
    assert client.put("/api/v1/users/u-001/webhook", json={"url": "http://10.0.0.7/hook"}).status_code == 400
    # A host name is judged by the addresses it resolves to, when the callback is sent: nothing reaches it.
    hook = receiver()
    port = hook.url.rsplit(":", 1)[1]
    accepted = client.post("/api/v1/storyboard/create", json=create_body(shot_count=1, callback_url=f"http://localhost:{port}/hook"))
    assert accepted.status_code == 200, accepted.text
    [delivery] = _callbacks(client, "op-001", "failed")
    [attempt] = delivery["attempts"]
    assert attempt["status_code"] is None and "loopback" in attempt["error"]
    assert hook.received == []


def test_callbacks_are_off_without_allowed_hosts_or_a_secret(make_client):
    client = make_client()
    refused = client.post("/api/v1/storyboard/create", json=create_body(callback_url="https://hooks.example.com/x"))
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "webhooks_off"
    client = make_client(**_settings(webhook_url_hosts="hooks.example.com", webhook_secret=""))
    refused = client.post("/api/v1/storyboard/create", json=create_body(callback_url="https://hooks.example.com/x"))
    assert refused.status_code == 400 and "WEBHOOK_SECRET" in refused.json()["error"]["message"]
    other = client.post("/api/v1/storyboard/create", json=create_body(callback_url="https://evil.example.net/x"))
    assert other.status_code == 400 and other.json()["error"]["code"] == "url_not_allowed"


def test_a_pending_callback_survives_a_restart(make_client, receiver, tmp_path):
    hook = receiver([503])
    first = make_client(tmp_path, **_settings(webhook_retry_base_s=0.3))
    assert first.post("/api/v1/storyboard/create", json=create_body(shot_count=1, callback_url=f"{hook.url}/h")).status_code == 200
    deadline = time.monotonic() + 30
    while not hook.received:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.__exit__(None, None, None)  # the service stops with the callback still pending
    pending = hook.received[:]
    hook.answers = [200]
    second = make_client(tmp_path, **_settings())
    [delivery] = _callbacks(second, "op-001", "delivered")
    assert [attempt["status_code"] for attempt in delivery["attempts"]][-1] == 200
    # At least once: an attempt cut short by the stop may have reached the receiver without being recorded.
    assert len(hook.received) >= len(delivery["attempts"]) >= 1 and len(hook.received) > len(pending) >= 1
    assert len({call["headers"]["x-story2video-delivery"] for call in hook.received}) == 1
