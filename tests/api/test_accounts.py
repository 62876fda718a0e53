"""Accounts for people: register, log in, refresh (rotated), log out, wrong password, expired token,
rate-limited log-ins; an access token acts for its own user only; API keys keep working."""

from __future__ import annotations

import time

import jwt
import pytest
from loguru import logger

from story2video.accounts.tokens import ALGORITHM, AUDIENCE, ISSUER
from tests.conftest import create_body

SECRET = "a-secret-for-signing-access-tokens-0123456789"
MACHINE_KEY = "machine-key-for-everyone-0123456789"


@pytest.fixture
def logs():
    lines: list[str] = []
    sink = logger.add(lines.append, level="DEBUG")
    yield lines
    logger.remove(sink)


@pytest.fixture
def accounts_client(make_client, logs):
    return make_client(accounts_enabled=True, account_token_secret=SECRET, api_keys=MACHINE_KEY, login_max_failures=3, login_max_failures_per_address=6)


def register(client, username="linxia", password="correct horse battery"):
    answer = client.post("/api/v1/auth/register", json={"username": username, "password": password})
    assert answer.status_code == 201, answer.text
    return answer.json()


def log_in(client, username="linxia", password="correct horse battery"):
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def refresh_with(client, cookie: str | None):
    """POST /refresh with exactly this refresh cookie (None: with none)."""
    client.cookies.clear()
    if cookie is not None:
        client.cookies.set("refresh_token", cookie, path="/api/v1/auth")
    return client.post("/api/v1/auth/refresh")


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_accounts_are_off_unless_enabled(client):
    assert client.get("/api/v1/auth/config").json() == {"accounts_enabled": False}
    refused = client.post("/api/v1/auth/register", json={"username": "linxia", "password": "correct horse battery"})
    assert refused.status_code == 404 and "ACCOUNTS_ENABLED" in refused.json()["error"]["message"]


def test_enabling_accounts_needs_a_long_secret(make_client):
    with pytest.raises(ValueError, match="ACCOUNT_TOKEN_SECRET"):
        make_client(accounts_enabled=True, account_token_secret="short")


def test_register_log_in_and_act_as_the_account(accounts_client, logs):
    client = accounts_client
    assert client.get("/api/v1/auth/config").json() == {"accounts_enabled": True}
    account = register(client)
    assert account["username"] == "linxia" and isinstance(account["id"], int) and account["user_id"].startswith("acct-")
    assert client.post("/api/v1/auth/register", json={"username": "linxia", "password": "another password"}).status_code == 409

    answer = log_in(client)
    assert answer.status_code == 200, answer.text
    grant = answer.json()
    assert grant["token_type"] == "Bearer" and grant["user_id"] == account["user_id"] and grant["expires_in"] == 900
    cookie = answer.headers["set-cookie"]
    assert "refresh_token=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/api/v1/auth" in cookie
    assert "Secure" not in cookie  # PUBLIC_BASE_URL is not https here

    me = client.get("/api/v1/auth/me", headers=bearer(grant["access_token"]))
    assert me.json() == {"id": account["id"], "username": "linxia", "user_id": account["user_id"]}

    user = account["user_id"]
    created = client.post("/api/v1/storyboard/create", json=create_body(user_id=user), headers=bearer(grant["access_token"]))
    assert created.status_code == 200, created.text
    stories = client.get("/api/v1/stories", params={"user_id": user}, headers=bearer(grant["access_token"]))
    assert [story["story_id"] for story in stories.json()] == ["story-001"]
    for_another = client.post("/api/v1/storyboard/create", json=create_body(user_id="u-other", operation_id="op-2"), headers=bearer(grant["access_token"]))
    assert for_another.status_code == 403 and for_another.json()["error"]["param"] == "user_id"
    assert client.get("/api/v1/stories/story-001", params={"user_id": "u-other"}, headers=bearer(grant["access_token"])).status_code == 404

    # machines keep their keys; nobody gets in without one or a token
    assert client.get("/api/v1/stories", params={"user_id": user}, headers={"X-API-Key": MACHINE_KEY}).status_code == 200
    assert client.get("/api/v1/stories", params={"user_id": user}).status_code == 401
    assert not any("correct horse battery" in line or grant["access_token"] in line or SECRET in line for line in logs)


def test_wrong_password_and_unknown_user_get_the_same_answer(accounts_client):
    register(accounts_client)
    wrong = log_in(accounts_client, password="not my password")
    unknown = log_in(accounts_client, username="nobody-here")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"] == "the username or password is wrong"
    assert "set-cookie" not in wrong.headers


def test_refresh_rotates_the_cookie_and_a_used_one_ends_the_log_in(accounts_client):
    client = accounts_client
    register(client)
    first = log_in(client)
    old_cookie = client.cookies.get("refresh_token")
    refreshed = client.post("/api/v1/auth/refresh")
    assert refreshed.status_code == 200, refreshed.text
    new_cookie = client.cookies.get("refresh_token")
    assert new_cookie and new_cookie != old_cookie
    assert client.get("/api/v1/auth/me", headers=bearer(refreshed.json()["access_token"])).status_code == 200
    assert refreshed.json()["access_token"] != first.json()["access_token"]

    # the old cookie again (stolen, say): refused, and the whole log-in ends, the new cookie too
    replay = refresh_with(client, old_cookie)
    assert replay.status_code == 401 and "already used" in replay.json()["error"]["message"]
    assert refresh_with(client, new_cookie).status_code == 401
    assert refresh_with(client, None).status_code == 401  # no cookie at all


def test_log_out_ends_the_refresh_token(accounts_client):
    client = accounts_client
    register(client)
    log_in(client)
    cookie = client.cookies.get("refresh_token")
    out = client.post("/api/v1/auth/logout")
    assert out.status_code == 204 and 'refresh_token=""' in out.headers["set-cookie"]
    assert refresh_with(client, cookie).status_code == 401


def test_an_expired_or_forged_access_token_is_refused(accounts_client):
    client = accounts_client
    account = register(client)
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": str(account["id"]), "uid": account["user_id"], "iat": now - 1000, "exp": now - 10}
    expired = jwt.encode(claims, SECRET, algorithm=ALGORITHM)
    answer = client.get("/api/v1/stories", params={"user_id": account["user_id"]}, headers=bearer(expired))
    assert answer.status_code == 401 and "expired" in answer.json()["error"]["message"]
    forged = jwt.encode({**claims, "exp": now + 600}, "another-secret-of-the-same-length-0123456789", algorithm=ALGORITHM)
    assert client.get("/api/v1/stories", params={"user_id": account["user_id"]}, headers=bearer(forged)).status_code == 401
    unsigned = jwt.encode({**claims, "exp": now + 600}, None, algorithm="none")
    assert client.get("/api/v1/stories", params={"user_id": account["user_id"]}, headers=bearer(unsigned)).status_code == 401


def test_failed_log_ins_are_limited_per_account_and_per_address(accounts_client):
    client = accounts_client
    register(client)
    register(client, username="second-person")
    for _ in range(3):
        assert log_in(client, password="wrong password").status_code == 401
    limited = log_in(client)  # even the right password waits now
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 900
    # another account from the same address still works until the address has failed 6 times
    assert log_in(client, username="second-person").status_code == 200
    for _ in range(3):
        assert log_in(client, username="nobody-at-all", password="wrong password").status_code == 401
    by_address = log_in(client, username="second-person")
    assert by_address.status_code == 429 and "address" in by_address.json()["error"]["message"]


def test_a_secure_cookie_behind_https_and_under_the_proxys_prefix(make_client):
    client = make_client(accounts_enabled=True, account_token_secret=SECRET, public_base_url="https://example.com/video/")
    register(client)
    cookie = log_in(client).headers["set-cookie"]
    assert "Secure" in cookie and "Path=/video/api/v1/auth" in cookie


def test_register_checks_the_username_and_password(accounts_client):
    short = accounts_client.post("/api/v1/auth/register", json={"username": "linxia", "password": "short"})
    assert short.status_code == 400 and short.json()["error"]["param"] == "password"
    odd = accounts_client.post("/api/v1/auth/register", json={"username": "a b", "password": "long enough password"})
    assert odd.status_code == 400 and odd.json()["error"]["param"] == "username"
