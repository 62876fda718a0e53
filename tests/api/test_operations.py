"""Operations: async mode, SSE, cancel, idempotency, queue limits, restart."""

from __future__ import annotations

import json
import time

from app_api import build_providers
from story2video.storage.db import Database
from tests.conftest import create_body, send_bare, small_settings
from tests.gates import Gate, GatedPainter, GatedSpeech

ASYNC = {"Prefer": "respond-async"}
RENDER = {"operation_id": "op-render", "story_id": "story-001", "user_id": "u-001"}


def _providers(tmp_path, gate: Gate, stage: str):
    providers = build_providers(small_settings(tmp_path))
    if stage == "speech":
        providers.speech = GatedSpeech(providers.speech, gate)
    else:
        providers.image = GatedPainter(providers.image, gate)
    return providers


def _wait_terminal(client, operation_id: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/operations/{operation_id}").json()
        if body["status"] in ("Success", "Failed", "Cancelled"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"operation {operation_id} did not finish in {timeout}s")


def _artifact_kinds(client) -> list[str]:
    rows = client.app.state.engine.deps.stories.db.fetch_all("SELECT kind FROM artifacts")
    return sorted(row["kind"] for row in rows)


def _read_events(response, on_first=None) -> list[tuple[str, dict, str | None]]:
    events, kind, event_id = [], None, None
    for line in response.iter_lines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: "):
            events.append((kind, json.loads(line[6:]), event_id))
            event_id = None
            if len(events) == 1 and on_first:
                on_first()
    return events


def test_respond_async_returns_202_with_location_and_finishes(client):
    response = client.post("/api/v1/storyboard/create", json=create_body(), headers=ASYNC)
    assert response.status_code == 202
    assert response.headers["Location"] == "/api/v1/operations/op-001?user_id=u-001"
    assert response.json()["status"] in ("Queued", "Running")
    final = _wait_terminal(client, "op-001")
    assert final["status"] == "Success" and final["progress"] == 1.0
    assert all(state["state"] == "done" for state in final["shots"].values())
    assert final["result"]["shots"][0]["image_url"].startswith("http://testserver/api/v1/artifacts/")


def test_sse_streams_snapshot_then_progress_in_order(make_client, tmp_path):
    gate = Gate()
    client = make_client(providers=_providers(tmp_path, gate, "image"))
    assert client.post("/api/v1/storyboard/create", json=create_body(), headers=ASYNC).status_code == 202
    with client.stream("GET", "/api/v1/operations/op-001/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _read_events(response, on_first=gate.open)
    kinds = [kind for kind, _, _ in events]
    assert kinds[0] == "snapshot" and kinds[-1] == "operation.completed"
    assert kinds.count("operation.completed") == 1
    ids = [int(event_id) for _, _, event_id in events if event_id]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    done = {data["shot_id"] for kind, data, _ in events if kind == "shot" and data["state"] == "done"}
    assert done == set(events[-1][1]["result"]["shots"][i]["id"] for i in range(len(done)))
    progress = [data["progress"] for kind, data, _ in events if kind in ("progress", "stage")]
    assert progress == sorted(progress)


def test_sse_of_finished_operation_is_snapshot_only(client):
    client.post("/api/v1/storyboard/create", json=create_body())
    with client.stream("GET", "/api/v1/operations/op-001/events") as response:
        events = _read_events(response)
    assert [kind for kind, _, _ in events] == ["snapshot"]
    assert events[0][1]["status"] == "Success"


def test_cancel_mid_render_leaves_no_final_video(make_client, tmp_path):
    gate = Gate()
    client = make_client(providers=_providers(tmp_path, gate, "speech"))
    assert client.post("/api/v1/storyboard/create", json=create_body()).status_code == 200
    assert client.post("/api/v1/video/render", json=RENDER, headers=ASYNC).status_code == 202
    assert gate.entered.wait(30)
    cancelled = client.post("/api/v1/operations/op-render/cancel")
    assert cancelled.status_code == 202
    final = _wait_terminal(client, "op-render")
    assert final["status"] == "Cancelled"
    assert final["error"]["code"] == "operation_cancelled"
    assert "video" not in _artifact_kinds(client) and "segment" not in _artifact_kinds(client)
    story = client.get("/api/v1/stories/story-001", params={"user_id": "u-001"}).json()
    assert story["video_url"] is None
    leftovers = list((tmp_path / "output" / "artifacts").rglob("*.tmp.*"))
    assert leftovers == []
    again = client.post("/api/v1/operations/op-render/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "operation_finished"


def test_sync_request_of_cancelled_operation_reports_it(make_client, tmp_path):
    gate = Gate()
    client = make_client(providers=_providers(tmp_path, gate, "image"))
    client.post("/api/v1/storyboard/create", json=create_body(), headers=ASYNC)
    assert gate.entered.wait(30)
    client.delete("/api/v1/operations/op-001")
    replay = client.post("/api/v1/storyboard/create", json=create_body())
    assert replay.status_code == 409
    assert replay.json()["error"]["code"] == "operation_cancelled"
    assert replay.json()["operation"]["status"] == "Cancelled"


def test_same_operation_id_and_body_never_repeats_work(client):
    first = client.post("/api/v1/storyboard/create", json=create_body())
    kinds = _artifact_kinds(client)
    second = client.post("/api/v1/storyboard/create", json=create_body())
    assert second.status_code == 200 and second.json() == first.json()
    assert _artifact_kinds(client) == kinds
    count = client.app.state.engine.deps.stories.db.fetch_one("SELECT COUNT(*) AS n FROM operations")["n"]
    assert count == 1


def test_replay_while_running_joins_the_same_operation(make_client, tmp_path):
    gate = Gate()
    client = make_client(providers=_providers(tmp_path, gate, "image"))
    first = client.post("/api/v1/storyboard/create", json=create_body(), headers=ASYNC)
    assert gate.entered.wait(30)
    second = client.post("/api/v1/storyboard/create", json=create_body(), headers=ASYNC)
    assert second.status_code == 202 and second.json()["operation_id"] == first.json()["operation_id"]
    gate.open()
    assert _wait_terminal(client, "op-001")["status"] == "Success"


def test_same_operation_id_with_different_body_is_409(client):
    client.post("/api/v1/storyboard/create", json=create_body())
    response = client.post("/api/v1/storyboard/create", json=create_body(style="动漫"))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "operation_id_conflict"
    other_endpoint = client.post("/api/v1/video/render", json={**RENDER, "operation_id": "op-001"})
    assert other_endpoint.status_code == 409


def test_full_queue_answers_429_with_retry_after(make_client, tmp_path):
    gate = Gate()
    client = make_client(
        providers=_providers(tmp_path, gate, "image"), max_running_operations=1, max_queued_operations=1, queue_retry_after_s=7
    )
    for index in range(2):
        body = create_body(operation_id=f"op-{index}", story_id=f"story-{index}")
        assert client.post("/api/v1/storyboard/create", json=body, headers=ASYNC).status_code == 202
    rejected = client.post("/api/v1/storyboard/create", json=create_body(operation_id="op-x", story_id="story-x"), headers=ASYNC)
    assert rejected.status_code == 429
    assert rejected.headers["Retry-After"] == "7"
    assert rejected.json()["error"]["code"] == "queue_full"
    assert client.get("/api/v1/operations/op-x").status_code == 404
    gate.open()
    assert _wait_terminal(client, "op-0")["status"] == "Success"
    assert _wait_terminal(client, "op-1")["status"] == "Success"


def test_restart_keeps_stories_and_fails_interrupted_operations(make_client, tmp_path):
    first = make_client()
    created = first.post("/api/v1/storyboard/create", json=create_body()).json()
    db = Database(tmp_path / "db" / "story2video.sqlite3")
    db.execute(
        "INSERT INTO operations (operation_id, kind, user_id, story_id, request_hash, request, status, stage, progress, shots, created_at, updated_at)"
        " VALUES (?, 'video.render', 'u-001', 'story-001', 'h', '{}', 'Running', 'shots', 0.4,"
        " '{\"shot_01\": {\"state\": \"working\", \"step\": \"segment\"}}', 0, 0)",
        ("op-crashed",),
    )
    db.execute(  # the crashed process's lease has not expired yet: the data lock proves it dead all the same
        "INSERT INTO operation_leases (user_id, operation_id, holder, worker_id, attempt, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
        ("u-001", "op-crashed", "driver", "dead-worker", 0, time.time() + 600),
    )
    db.close()
    second = make_client()  # a new process on the same database and output folder
    story = second.get("/api/v1/stories/story-001", params={"user_id": "u-001"})
    assert story.status_code == 200
    assert [s["image_url"] for s in story.json()["shots"]] == [s["image_url"] for s in created["shots"]]
    assert second.get(created["shots"][0]["image_url"]).status_code == 200
    crashed = second.get("/api/v1/operations/op-crashed").json()
    assert crashed["status"] == "Failed"
    assert crashed["error"]["code"] == "interrupted" and crashed["error"]["stage"] == "shots"
    assert crashed["shots"]["shot_01"]["state"] == "failed"
    rendered = second.post("/api/v1/video/render", json=RENDER)
    assert rendered.status_code == 200, rendered.text


def test_cancel_like_curl_needs_no_body_or_headers(make_client, tmp_path):
    gate = Gate()
    client = make_client(providers=_providers(tmp_path, gate, "speech"))
    assert client.post("/api/v1/storyboard/create", json=create_body()).status_code == 200
    assert client.post("/api/v1/video/render", json=RENDER, headers=ASYNC).status_code == 202
    assert gate.entered.wait(30)
    cancelled = send_bare(client, "POST", "/api/v1/operations/op-render/cancel")  # curl -X POST …/cancel
    assert cancelled.status_code == 202, cancelled.text
    assert _wait_terminal(client, "op-render")["status"] == "Cancelled"
    assert send_bare(client, "DELETE", "/api/v1/operations/op-render").json()["error"]["code"] == "operation_finished"


# ------------------------------------------------------------------ operation ids are per user

B_BODY = create_body(user_id="u-002", story_id="story-b")


def test_another_user_may_use_the_same_operation_id(client):
    first = client.post("/api/v1/storyboard/create", json=create_body())
    second = client.post("/api/v1/storyboard/create", json=B_BODY)
    assert second.status_code == 200, second.text  # not 409, and not user A's answer
    assert second.json()["operation"]["operation_id"] == "op-001"
    assert second.json()["shots"] != first.json()["shots"]
    assert client.get("/api/v1/stories/story-b", params={"user_id": "u-002"}).status_code == 200
    rows = client.app.state.engine.deps.stories.db.fetch_all("SELECT user_id, story_id FROM operations WHERE operation_id='op-001'")
    assert sorted(tuple(row) for row in rows) == [("u-001", "story-001"), ("u-002", "story-b")]
    # Idempotency holds per user: the same body joins, a different body is a conflict.
    assert client.post("/api/v1/storyboard/create", json=B_BODY).json() == second.json()
    conflict = client.post("/api/v1/storyboard/create", json={**B_BODY, "style": "动漫"})
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "operation_id_conflict"
    assert client.post("/api/v1/storyboard/create", json=create_body()).json() == first.json()
    assert len(client.app.state.engine.deps.stories.db.fetch_all("SELECT 1 FROM operations")) == 2


def test_an_operation_is_found_by_its_user(client):
    client.post("/api/v1/storyboard/create", json=create_body())
    client.post("/api/v1/storyboard/create", json=create_body(operation_id="op-only-a"))
    client.post("/api/v1/storyboard/create", json=B_BODY)
    url = "/api/v1/operations/op-001"
    assert client.get(url, params={"user_id": "u-001"}).json()["story_id"] == "story-001"
    assert client.get(url, params={"user_id": "u-002"}).json()["story_id"] == "story-b"
    assert client.get(url, params={"user_id": "u-003"}).status_code == 404
    for method, path in (("GET", url), ("GET", f"{url}/events"), ("POST", f"{url}/cancel"), ("DELETE", url)):
        ambiguous = client.request(method, path)
        assert ambiguous.status_code == 400, (method, path)
        assert ambiguous.json()["error"]["param"] == "user_id" and "user_id" in ambiguous.json()["error"]["message"]
    # An id only one user has is found without naming the user (clients from before keep working) ...
    assert client.get("/api/v1/operations/op-only-a").json()["user_id"] == "u-001"
    # ... but whoever names another user is told it does not exist, not that someone else has it.
    for method, path in (("GET", ""), ("GET", "/events"), ("POST", "/cancel"), ("DELETE", "")):
        response = client.request(method, f"/api/v1/operations/op-only-a{path}", params={"user_id": "u-002"})
        assert response.status_code == 404, (method, path)
    with client.stream("GET", f"{url}/events", params={"user_id": "u-002"}) as response:
        events = _read_events(response)
    assert events[0][1]["user_id"] == "u-002" and events[0][1]["story_id"] == "story-b"


def test_the_location_finds_the_operation_whoever_else_uses_its_id(client):
    client.post("/api/v1/storyboard/create", json=create_body())
    accepted = client.post("/api/v1/storyboard/create", json=B_BODY, headers=ASYNC)
    assert accepted.status_code == 202
    assert accepted.headers["Location"] == "/api/v1/operations/op-001?user_id=u-002"
    deadline = time.monotonic() + 60
    while (followed := client.get(accepted.headers["Location"]).json())["status"] not in ("Success", "Failed"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert followed["status"] == "Success" and followed["story_id"] == "story-b"


def test_same_id_of_two_users_never_mixes_events_or_cancels(make_client, tmp_path):
    gate = Gate()
    client = make_client(providers=_providers(tmp_path, gate, "image"))
    assert client.post("/api/v1/storyboard/create", json=create_body(), headers=ASYNC).status_code == 202
    assert client.post("/api/v1/storyboard/create", json=B_BODY, headers=ASYNC).status_code == 202
    assert gate.entered.wait(30)

    def cancel_b_then_let_a_finish() -> None:
        assert client.post("/api/v1/operations/op-001/cancel", params={"user_id": "u-002"}).status_code == 202
        assert _wait_terminal_of(client, "u-002")["status"] == "Cancelled"
        gate.open()

    with client.stream("GET", "/api/v1/operations/op-001/events", params={"user_id": "u-001"}) as response:
        events = _read_events(response, on_first=cancel_b_then_let_a_finish)
    kinds = [kind for kind, _, _ in events]
    assert kinds[-1] == "operation.completed" and "operation.cancelled" not in kinds
    assert _wait_terminal_of(client, "u-001")["status"] == "Success"
    assert _wait_terminal_of(client, "u-002")["error"]["code"] == "operation_cancelled"


def _wait_terminal_of(client, user_id: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get("/api/v1/operations/op-001", params={"user_id": user_id}).json()
        if body["status"] in ("Success", "Failed", "Cancelled"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"user {user_id}'s operation op-001 did not finish in {timeout}s")
