"""Optional API keys: every data route needs one; a key scoped to user A cannot see or act for user B;
artifact links are signed with an expiry; keys never reach the logs."""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from loguru import logger

from app_api import build_providers
from story2video.app import create_app
from tests.conftest import create_body, send_bare, small_settings

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


# ------------------------------------------------------------------ authentication comes before the body

PUBLIC_ROUTES = {("GET", "/health"), ("GET", "/api/v1/artifacts/{name}")}  # signed links need no key
# Signing in needs no key (and answers 404 while ACCOUNTS_ENABLED is off): tests/api/test_accounts.py.
PUBLIC_ROUTES |= {("GET", "/api/v1/auth/config")} | {("POST", f"/api/v1/auth/{name}") for name in ("register", "login", "refresh", "logout")}
PATH_VALUES = {"operation_id": "op-001", "story_id": "story-001", "shot_id": "shot_01", "upload_id": "up-001"}
BODY_LIMIT = 1024
JSON = {"Content-Type": "application/json"}
BODIES = {
    "no body, no headers": None,  # curl -X POST
    "empty JSON object": (b"{}", JSON),
    "malformed JSON": (b'{"operation_id": ', JSON),
    "not JSON": (b"operation_id=op-x", {"Content-Type": "application/x-www-form-urlencoded"}),
    "over the body limit": (b"x" * (BODY_LIMIT + 1), JSON),
}


def _openapi_routes() -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as root:
        settings = small_settings(Path(root))
        app = create_app(settings, build_providers(settings))
        try:
            paths = app.openapi()["paths"]
        finally:
            app.state.engine.deps.stories.db.close()
    return sorted((method.upper(), path) for path, item in paths.items() for method in item)


PROTECTED_ROUTES = [route for route in _openapi_routes() if route not in PUBLIC_ROUTES]


@pytest.fixture(scope="module")
def keyed_client(tmp_path_factory):
    """API keys on, nothing created: every answer below comes from authentication alone."""
    settings = small_settings(tmp_path_factory.mktemp("keyed"), api_keys=KEYS, max_body_bytes=BODY_LIMIT, max_upload_bytes=BODY_LIMIT)
    with TestClient(create_app(settings, build_providers(settings))) as client:
        yield client


def _send(client: TestClient, method: str, path: str, body, headers: dict) -> object:
    url = re.sub(r"\{(\w+)\}", lambda match: PATH_VALUES.get(match[1], "x-001"), path)
    if body is None:
        return send_bare(client, method, url, headers=headers)
    content, content_headers = body
    return client.request(method, url, content=content, headers={**content_headers, **headers})


def test_the_openapi_has_the_routes_this_checks():
    assert ("POST", "/api/v1/operations/{operation_id}/cancel") in PROTECTED_ROUTES
    assert ("POST", "/api/v1/uploads") in PROTECTED_ROUTES and ("GET", "/ready") in PROTECTED_ROUTES
    assert len(PROTECTED_ROUTES) >= 18


@pytest.mark.parametrize("body", list(BODIES), ids=list(BODIES))
@pytest.mark.parametrize("method, path", PROTECTED_ROUTES, ids=[f"{m} {p}" for m, p in PROTECTED_ROUTES])
@pytest.mark.parametrize("key", [None, "not-a-key-at-all-000000"], ids=["no key", "wrong key"])
def test_every_protected_route_answers_401_whatever_the_body(keyed_client, method, path, body, key):
    headers = {"X-API-Key": key} if key else {}
    response = _send(keyed_client, method, path, BODIES[body], headers)
    assert response.status_code == 401, (method, path, body, response.status_code, response.text)
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_wrong_method_on_a_protected_path_tells_nothing_without_a_key(keyed_client):
    assert keyed_client.put("/api/v1/operations/op-001", content=b"x" * (BODY_LIMIT + 1)).status_code == 401


def test_cancel_like_curl_reaches_the_route_with_a_key(secured):
    client, _ = secured
    url = "/api/v1/operations/op-001/cancel"
    finished = send_bare(client, "POST", url, headers=A)
    assert finished.status_code == 409 and finished.json()["error"]["code"] == "operation_finished"
    assert send_bare(client, "POST", url, headers=B).status_code == 404  # another user's: not found, as before
    assert send_bare(client, "POST", url).status_code == 401


# ------------------------------------------------------------------ operation ids are per user


def test_a_user_may_reuse_another_users_operation_id(secured):
    client, created_by_a = secured
    body_b = create_body(user_id="u-002", story_id="story-b")
    created_by_b = client.post("/api/v1/storyboard/create", json=body_b, headers=B)
    assert created_by_b.status_code == 200, created_by_b.text
    assert created_by_b.json()["operation"]["operation_id"] == "op-001"
    seen_by_b = client.get("/api/v1/operations/op-001", headers=B).json()
    seen_by_a = client.get("/api/v1/operations/op-001", headers=A).json()
    assert (seen_by_a["user_id"], seen_by_a["story_id"]) == ("u-001", "story-001")
    assert (seen_by_b["user_id"], seen_by_b["story_id"]) == ("u-002", "story-b")
    assert client.post("/api/v1/storyboard/create", json=body_b, headers=B).json() == created_by_b.json()  # idempotent
    assert client.post("/api/v1/storyboard/create", json={**body_b, "style": "动漫"}, headers=B).status_code == 409
    # B's key never sees A's operation, not even by naming A.
    assert client.get("/api/v1/operations/op-001", params={"user_id": "u-001"}, headers=B).status_code == 404
    assert client.post("/api/v1/operations/op-001/cancel", params={"user_id": "u-001"}, headers=B).status_code == 404
    # A key for every user must say whose operation it means when the id is ambiguous.
    ambiguous = client.get("/api/v1/operations/op-001", headers=ADMIN)
    assert ambiguous.status_code == 400 and ambiguous.json()["error"]["param"] == "user_id"
    assert client.get("/api/v1/operations/op-001", params={"user_id": "u-002"}, headers=ADMIN).json()["story_id"] == "story-b"
