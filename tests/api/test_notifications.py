"""The notification socket (seed 001's /ws/notifications): a user's operations' events and seed-shaped
segment messages arrive; another user's never do; an unauthenticated socket is refused; events that
another process wrote into the shared database arrive too (as with SERVICE_ROLE=api and workers)."""

from __future__ import annotations

import pytest
from starlette.testclient import WebSocketDenialResponse

from story2video.jobs.states import OperationStatus
from story2video.storage.db import Database
from story2video.storage.events import EventRepository
from story2video.storage.operations import OperationRepository
from story2video.storage.records import OperationRecord
from tests.conftest import create_body

KEY_A = "key-for-user-a-0123456789"
KEY_B = "key-for-user-b-0123456789"
KEY_ADMIN = "key-for-everyone-01234567"
ASYNC = {"Prefer": "respond-async"}


def messages_until(socket, done) -> list[dict]:
    """Every message up to and including the first for which ``done(message)`` holds."""
    seen = []
    while True:
        message = socket.receive_json()
        seen.append(message)
        if done(message):
            return seen


def segment(number: int, operation_id: str):
    return lambda m: m["type"] in ("segment_finished", "segment_failed") and m["segment_id"] == number and m["task_id"] == operation_id


@pytest.fixture
def secured(make_client):
    return make_client(api_keys=f"{KEY_A}:u-001,{KEY_B}:u-002,{KEY_ADMIN}")


def test_a_users_socket_gets_their_render_and_nothing_of_another_user(secured):
    client = secured
    with client.websocket_connect(f"/ws/notifications?token={KEY_A}") as socket:
        other = client.post("/api/v1/storyboard/create", json=create_body(user_id="u-002", operation_id="op-b", story_id="story-b"), headers={"X-API-Key": KEY_B, **ASYNC})
        assert other.status_code == 202
        created = client.post("/api/v1/storyboard/create", json=create_body(), headers={"X-API-Key": KEY_A, **ASYNC})
        assert created.status_code == 202
        storyboard = messages_until(socket, segment(2, "op-001"))
        rendered = client.post("/api/v1/video/render", json={"operation_id": "op-r", "story_id": "story-001", "user_id": "u-001"}, headers={"X-API-Key": KEY_A, **ASYNC})
        assert rendered.status_code == 202
        render = messages_until(socket, segment(5, "op-r"))

    seen = storyboard + render
    assert {m["operation_id"] for m in seen} == {"op-001", "op-r"}  # op-b (user u-002) never arrives
    types = [m["type"] for m in render if m["type"] not in ("progress",)]
    assert types[0] == "operation.started" and types[-2:] == ["operation.completed", "segment_finished"]
    assert {"stage", "shot"} <= set(types)
    assert all(m["kind"] == "video.render" and m["story_id"] == "story-001" for m in render)
    story_done = next(m for m in storyboard if m["type"] == "segment_finished" and m["segment_id"] == 1)
    assert story_done["status"] == "completed" and story_done["resources"][0].startswith("http://testserver/api/v1/stories/story-001")
    finished = render[-1]
    assert finished["status"] == "completed" and finished["task_id"] == "op-r"
    video, subtitles = finished["resources"]
    assert video.startswith("http://testserver/api/v1/artifacts/") and ".mp4?" in video and ".srt?" in subtitles  # signed links
    assert client.get(video).status_code == 200
    ids = [m["event_id"] for m in seen if m["type"] not in ("segment_finished", "segment_failed")]
    assert ids == sorted(ids) and len(ids) == len(set(ids))


def test_reconnecting_with_after_replays_what_was_missed(secured):
    client = secured
    client.post("/api/v1/storyboard/create", json=create_body(), headers={"X-API-Key": KEY_A})  # waits until it is done
    with client.websocket_connect(f"/ws/notifications?token={KEY_A}&after=0") as socket:
        replayed = messages_until(socket, segment(2, "op-001"))
    assert replayed[0]["type"] == "operation.started" and replayed[-1]["type"] == "segment_finished"


def test_a_cancelled_operation_fails_its_segment(secured):
    client = secured
    with client.websocket_connect("/ws/notifications?user_id=u-001", headers={"X-API-Key": KEY_ADMIN}) as socket:
        started = client.post("/api/v1/storyboard/create", json=create_body(operation_id="op-c"), headers={"X-API-Key": KEY_A, **ASYNC})
        assert started.status_code == 202
        cancelled = client.post("/api/v1/operations/op-c/cancel", headers={"X-API-Key": KEY_A})
        ended = messages_until(socket, lambda m: m["type"] == "segment_failed" or segment(2, "op-c")(m))
    if cancelled.status_code == 202:
        last = ended[-1]
        assert last["type"] == "segment_failed" and last["status"] == "failed" and last["segment_id"] in (1, 2)
        assert "cancelled" in last["error"] and last["code"] == "operation_cancelled"
        assert ended[-2]["type"] == "operation.cancelled"
    else:  # it finished before the cancel landed
        assert cancelled.status_code == 409 and ended[-1]["type"] == "segment_finished"


def test_unauthenticated_or_foreign_sockets_are_refused(secured):
    client = secured
    for url, headers, status in (
        ("/ws/notifications", {}, 401),
        ("/ws/notifications?token=not-a-key-at-all-000000", {}, 401),
        ("/ws/notifications?token=" + KEY_B + "&user_id=u-001", {}, 403),
        ("/ws/notifications", {"X-API-Key": KEY_ADMIN}, 400),  # an unscoped key must name the user
    ):
        with pytest.raises(WebSocketDenialResponse) as refused:
            with client.websocket_connect(url, headers=headers):
                pass
        assert refused.value.status_code == status, url
        assert refused.value.json()["error"]["code"] in ("unauthorized", "forbidden", "invalid_request")


def test_an_access_token_opens_the_socket_of_its_own_user(make_client):
    client = make_client(accounts_enabled=True, account_token_secret="a-secret-for-signing-access-tokens-0123456789")
    registered = client.post("/api/v1/auth/register", json={"username": "linxia", "password": "correct horse battery"}).json()
    token = client.post("/api/v1/auth/login", json={"username": "linxia", "password": "correct horse battery"}).json()["access_token"]
    with pytest.raises(WebSocketDenialResponse):
        with client.websocket_connect("/ws/notifications"):
            pass
    user = registered["user_id"]
    with client.websocket_connect(f"/ws/notifications?token={token}") as socket:
        answer = client.post("/api/v1/storyboard/create", json=create_body(user_id=user), headers={"Authorization": f"Bearer {token}", **ASYNC})
        assert answer.status_code == 202
        seen = messages_until(socket, segment(2, "op-001"))
    assert seen[-1]["resources"] and all(".png" in link for link in seen[-1]["resources"])


def test_events_another_process_stored_arrive_from_the_database(make_client, tmp_path):
    """A worker of SERVICE_ROLE=api stores its events in the shared database; this process's hub never
    hears of them (no relay here), so the socket must find them there."""
    client = make_client()
    worker_db = Database(tmp_path / "db" / "story2video.sqlite3")  # a second connection, as another process has
    try:
        OperationRepository(worker_db).insert(
            OperationRecord(operation_id="op-w", kind="video.render", user_id="u-w", story_id="story-w", request_hash="h", request={},
                            status=OperationStatus.RUNNING.value, stage="shots", progress=0.0)  # fmt: skip
        )
        events = EventRepository(worker_db)
        with client.websocket_connect("/ws/notifications?user_id=u-w") as socket:
            events.append("u-other", "op-w", "stage", {"stage": "shots", "progress": 0.1})  # another user's: never sent
            events.append("u-w", "op-w", "stage", {"stage": "final", "progress": 0.85})
            events.append("u-w", "op-w", "operation.failed", {"status": "Failed", "error": {"code": "media_error", "message": "ffmpeg broke", "stage": "final"}})
            seen = messages_until(socket, lambda m: m["type"] == "segment_failed")
    finally:
        worker_db.close()
    assert [m["type"] for m in seen] == ["stage", "operation.failed", "segment_failed"]
    assert seen[0]["stage"] == "final" and seen[-1]["error"] == "ffmpeg broke" and seen[-1]["segment_id"] == 5


def test_a_socket_closed_by_the_client_ends_quietly(secured):
    client = secured
    with client.websocket_connect(f"/ws/notifications?token={KEY_A}") as socket:
        socket.close()
    with pytest.raises(WebSocketDenialResponse) as refused:
        with client.websocket_connect("/ws/notifications?token=" + KEY_A + "&after=x"):
            pass
    assert refused.value.status_code == 400 and refused.value.json()["error"]["param"] == "after"


def test_an_event_that_becomes_visible_after_a_later_one_still_arrives(make_client, tmp_path):
    """On PostgreSQL a lower event id can commit after a higher one (two writers); the socket looks back."""
    client = make_client()
    worker_db = Database(tmp_path / "db" / "story2video.sqlite3")
    try:
        OperationRepository(worker_db).insert(
            OperationRecord(operation_id="op-w", kind="video.render", user_id="u-w", story_id="story-w", request_hash="h", request={},
                            status=OperationStatus.RUNNING.value, stage="shots", progress=0.0)  # fmt: skip
        )
        events = EventRepository(worker_db)
        late_id = events.append("u-w", "op-w", "stage", {"stage": "placeholder"})
        events.append("u-w", "op-w", "stage", {"stage": "early"})
        worker_db.execute("DELETE FROM operation_events WHERE event_id=?", (late_id,))  # not committed yet, as it were
        with client.websocket_connect(f"/ws/notifications?user_id=u-w&after={late_id - 1}") as socket:
            assert socket.receive_json()["stage"] == "early"
            worker_db.execute(
                "INSERT INTO operation_events (event_id, user_id, operation_id, type, data, created_at) VALUES (?, 'u-w', 'op-w', 'stage', ?, 0)",
                (late_id, '{"stage": "late"}'),
            )
            late = socket.receive_json()
            events.append("u-w", "op-w", "operation.failed", {"status": "Failed", "error": {"code": "media_error", "message": "x", "stage": "final"}})
            rest = messages_until(socket, lambda m: m["type"] == "segment_failed")
    finally:
        worker_db.close()
    assert late["stage"] == "late" and late["event_id"] == late_id
    assert [m["type"] for m in rest] == ["operation.failed", "segment_failed"]  # nothing sent twice
