"""Optional API keys: every data route needs one; a key scoped to user A cannot see or act for user B;
artifact links are signed with an expiry; keys never reach the logs."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from loguru import logger

from tests.conftest import create_body

KEY_A = "key-for-user-a-0123456789"
KEY_B = "key-for-user-b-0123456789"
KEY_ADMIN = "key-for-everyone-01234567"
KEYS = f"{KEY_A}:u-001,{KEY_B}:u-002,{KEY_ADMIN}"
A = {"X-API-Key": KEY_A}
B = {"Authorization": f"Bearer {KEY_B}"}
ADMIN = {"X-API-Key": KEY_ADMIN}


@pytest.fixture
def logs():
    lines: list[str] = []
    sink = logger.add(lines.append, level="DEBUG")
    yield lines
    logger.remove(sink)


@pytest.fixture
def secured(make_client, logs):
    client = make_client(api_keys=KEYS)
    created = client.post("/api/v1/storyboard/create", json=create_body(), headers=A)
    assert created.status_code == 200, created.text
    return client, created.json()


def test_data_routes_need_a_valid_key(secured):
    client, _ = secured
    assert client.get("/health").status_code == 200
    for response in (
        client.post("/api/v1/storyboard/create", json=create_body(operation_id="op-x")),
        client.get("/api/v1/operations/op-001"),
        client.get("/api/v1/stories", params={"user_id": "u-001"}),
        client.get("/ready"),
        client.get("/metrics"),
        client.get("/api/v1/operations/op-001", headers={"X-API-Key": "not-a-key-at-all-000000"}),
    ):
        assert response.status_code == 401, response.request.url
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["error"]["code"] == "unauthorized"


def test_a_key_for_one_user_sees_nothing_of_another(secured):
    client, _ = secured
    story = "/api/v1/stories/story-001"
    assert client.get(story, params={"user_id": "u-001"}, headers=A).status_code == 200
    assert client.get(story, params={"user_id": "u-001"}, headers=B).status_code == 404
    assert client.get(f"{story}/shots/shot_01", params={"user_id": "u-001"}, headers=B).status_code == 404
    assert client.delete(story, params={"user_id": "u-001"}, headers=B).status_code == 404
    assert client.get("/api/v1/operations/op-001", headers=B).status_code == 404
    assert client.get("/api/v1/operations/op-001/events", headers=B).status_code == 404
    assert client.post("/api/v1/operations/op-001/cancel", headers=B).status_code == 404
    acting_for_a = client.post("/api/v1/video/render", json={"operation_id": "op-r", "story_id": "story-001", "user_id": "u-001"}, headers=B)
    assert acting_for_a.status_code == 403 and acting_for_a.json()["error"]["param"] == "user_id"
    assert client.get("/api/v1/stories", params={"user_id": "u-001"}, headers=B).status_code == 403
    assert client.get(story, params={"user_id": "u-001"}, headers=ADMIN).status_code == 200


def test_artifact_links_are_signed_and_expire(secured):
    client, created = secured
    link = created["shots"][0]["image_url"]
    query = parse_qs(urlsplit(link).query)
    assert set(query) == {"expires", "sig"} and int(query["expires"][0]) > time.time()
    assert client.get(link).status_code == 200  # a browser needs no key for a link it was given
    bare = link.split("?")[0]
    assert client.get(bare).status_code == 404
    assert client.get(bare, headers=A).status_code == 404  # a key is not a signature
    tampered = link[:-4] + ("0000" if not link.endswith("0000") else "1111")
    assert client.get(tampered).status_code == 404
    signer = client.app.state.artifact_signer
    expired = signer.sign(urlsplit(bare).path, now=time.time() - 10 * 86400)
    assert client.get(expired).status_code == 404
    other_artifact = created["shots"][1]["image_url"].split("?")[0] + "?" + urlsplit(link).query
    assert client.get(other_artifact).status_code == 404  # a signature is for one artifact only


def test_keys_never_reach_the_logs(secured, logs):
    client, _ = secured
    client.post("/api/v1/video/render", json={"operation_id": "op-r", "story_id": "story-001", "user_id": "u-001"}, headers=A)
    client.get("/api/v1/operations/op-x", headers={"X-API-Key": KEY_B + "-wrong"})
    text = "\n".join(logs)
    assert "op-r" in text  # the render was logged
    for key in (KEY_A, KEY_B, KEY_ADMIN):
        assert key not in text


def test_short_keys_are_refused_at_start_up(make_client):
    from story2video.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        make_client(api_keys="short:u-001")
