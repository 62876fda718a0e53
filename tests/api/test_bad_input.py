"""Bad input is refused with the right 4xx naming the field, and nothing is written."""

from __future__ import annotations

import json

import pytest

from tests.conftest import create_body

BAD_IDS = ["../etc", "a/b", "a\x00b", "x" * 65, "ｓｔｏｒｙ", "", "story 1", "story.1", "%2e%2e"]


def _nothing_written(client) -> None:
    db = client.app.state.engine.deps.stories.db
    assert db.fetch_one("SELECT COUNT(*) AS n FROM operations")["n"] == 0
    assert db.fetch_one("SELECT COUNT(*) AS n FROM stories")["n"] == 0
    artifacts = client.app.state.engine.deps.store.root
    assert [p for p in artifacts.rglob("*") if p.is_file()] == []


def _assert_error(response, status: int, param: str | None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] and error["message"]
    if param is not None:
        assert error.get("param") == param, error
    return error


@pytest.mark.parametrize("field", ["story_id", "user_id", "operation_id"])
@pytest.mark.parametrize("bad", BAD_IDS)
def test_ids_that_could_become_paths_are_refused(client, field, bad):
    response = client.post("/api/v1/storyboard/create", json=create_body(**{field: bad}))
    _assert_error(response, 400, field)
    _nothing_written(client)


@pytest.mark.parametrize("script", ["", "   \n\t  "])
def test_empty_script_is_refused(client, script):
    _assert_error(client.post("/api/v1/storyboard/create", json=create_body(script_content=script)), 400, "script_content")
    _nothing_written(client)


def test_oversized_script_is_refused(make_client):
    client = make_client(max_script_chars=500)
    response = client.post("/api/v1/storyboard/create", json=create_body(script_content="长" * 501))
    error = _assert_error(response, 400, "script_content")
    assert "500" in error["message"]
    _nothing_written(client)


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"script_content": 123}, "script_content"),
        ({"shot_count": "many"}, "shot_count"),
        ({"shot_count": -1}, "shot_count"),
        ({"shot_count": 0}, "shot_count"),
        ({"shot_count": 10**9}, "shot_count"),
        ({"aspect_ratio": "4:3"}, "aspect_ratio"),
        ({"style": ["写实"]}, "style"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_wrong_types_and_values_name_the_field(client, overrides, param):
    _assert_error(client.post("/api/v1/storyboard/create", json=create_body(**overrides)), 400, param)
    _nothing_written(client)


def test_missing_field_is_named(client):
    body = create_body()
    del body["script_content"]
    error = _assert_error(client.post("/api/v1/storyboard/create", json=body), 400, "script_content")
    assert "required" in error["message"]


def test_body_that_is_not_json(client):
    response = client.post("/api/v1/storyboard/create", content=b"{not json", headers={"Content-Type": "application/json"})
    _assert_error(response, 400, None)
    _nothing_written(client)


def test_unknown_story_and_shot_are_404(client):
    regenerate = {"operation_id": "op-9", "story_id": "nope", "shot_id": "shot_01", "user_id": "u-001", "detail": "x"}
    _assert_error(client.post("/api/v1/shot/regenerate", json=regenerate), 404, None)
    render = {"operation_id": "op-8", "story_id": "nope", "user_id": "u-001"}
    _assert_error(client.post("/api/v1/video/render", json=render), 404, None)
    _nothing_written(client)
    assert client.post("/api/v1/storyboard/create", json=create_body()).status_code == 200
    unknown_shot = {**regenerate, "story_id": "story-001", "shot_id": "shot_99"}
    _assert_error(client.post("/api/v1/shot/regenerate", json=unknown_shot), 404, None)
    other_user = client.get("/api/v1/stories/story-001", params={"user_id": "u-002"})
    _assert_error(other_user, 404, None)


def test_unknown_operation_and_artifact_are_404(client):
    _assert_error(client.get("/api/v1/operations/missing"), 404, None)
    _assert_error(client.get("/api/v1/artifacts/" + "0" * 64 + ".png"), 404, None)
    assert client.get("/api/v1/artifacts/..%2F..%2Fetc%2Fpasswd").status_code in (400, 404)
    assert client.get("/api/v1/operations/..%2Fx").status_code == 404  # a path separator never reaches a route
    _assert_error(client.get("/api/v1/operations/bad.id"), 400, "operation_id")


def test_exact_shot_count_is_honoured(client):
    response = client.post("/api/v1/storyboard/create", json=create_body(shot_count=6))
    assert response.status_code == 200, response.text
    assert len(response.json()["shots"]) == 6


def test_one_megabyte_script_names_the_field(client):
    body = json.dumps(create_body(script_content="长" * 350_000), ensure_ascii=False).encode("utf-8")  # ~1 MB
    response = client.post("/api/v1/storyboard/create", content=body, headers={"Content-Type": "application/json"})
    _assert_error(response, 400, "script_content")
    _nothing_written(client)


@pytest.mark.parametrize("script", ["😀😀😀", "！？。……", "🎬 🎥 ✨"])
def test_script_without_words_is_refused_before_any_work(client, script):
    _assert_error(client.post("/api/v1/storyboard/create", json=create_body(script_content=script)), 400, "script_content")
    _nothing_written(client)


def test_oversized_body_is_413_whether_declared_or_streamed(make_client):
    client = make_client(max_body_bytes=4096)
    body = json.dumps(create_body(script_content="x" * 10_000)).encode()
    declared = client.post("/api/v1/storyboard/create", content=body, headers={"Content-Type": "application/json"})
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "payload_too_large"

    def chunks():
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    streamed = client.post("/api/v1/storyboard/create", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    _nothing_written(client)


@pytest.mark.parametrize(
    "content",
    [b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe{\"a\": 1}", json.dumps({"a": [[[[[[[[[[1]]]]]]]]]]}).encode()],
)
def test_json_bombs_and_bad_encodings_are_400(client, content):
    response = client.post("/api/v1/storyboard/create", content=content, headers={"Content-Type": "application/json"})
    _assert_error(response, 400, None)
    _nothing_written(client)


def test_wrong_content_type_is_415(client):
    response = client.post("/api/v1/storyboard/create", content=b"operation_id=a", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415 and "application/json" in response.json()["error"]["message"]
    _nothing_written(client)
