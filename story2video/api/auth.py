"""Optional API keys (``X-API-Key`` or ``Authorization: Bearer``), each for all users or one user_id,
and people's access tokens (``Authorization: Bearer``, ACCOUNTS_ENABLED), each for its account's user_id.

With API_KEYS empty and accounts off every request is allowed. Otherwise every route that depends on
``authenticate`` needs a key or an access token (all but /health, the docs, the page, signed artifact
links and the log-in routes); a key scoped to a user, like a signed-in person, may act only for that
user_id and sees everyone else's stories and operations as not found.

``ApiKeyGate`` decides this before anything reads the request body: a caller without a valid key
gets 401 whatever the body's size, type or content, never a 413, 415 or 400 about the body.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Mapping, Sequence

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from story2video.accounts.service import AccountService
from story2video.accounts.tokens import looks_like_jwt
from story2video.api.errors import response_for
from story2video.errors import ConfigurationError, Forbidden, NotFound, Unauthorized


@dataclass(frozen=True)
class Principal:
    """Who is calling: ``user_id`` None means any user (no auth, or an unscoped key)."""

    user_id: str | None = None
    account_id: int | None = None  # set when a signed-in person (an access token) is calling

    def require(self, user_id: str) -> None:
        """Acting for ``user_id`` (create, render, list): refused unless the key allows it."""
        if self.user_id is not None and self.user_id != user_id:
            who = "a signed-in person" if self.account_id is not None else "this API key"
            raise Forbidden(f"{who} may only act for user '{self.user_id}'", param="user_id")

    def require_visible(self, user_id: str, what: str) -> None:
        """Reading something of ``user_id``: another user's things do not exist for this key."""
        if self.user_id is not None and self.user_id != user_id:
            raise NotFound(f"{what} does not exist")


def parse_api_keys(setting: str) -> dict[str, str | None]:
    keys: dict[str, str | None] = {}
    for entry in filter(None, (part.strip() for part in setting.split(","))):
        key, _, user = entry.partition(":")
        if len(key) < 16:
            raise ConfigurationError("every API_KEYS key must be at least 16 characters long")
        keys[key] = user or None
    return keys


def presented_key(headers: Mapping[str, str]) -> str | None:
    header = headers.get("x-api-key")
    if header:
        return header.strip()
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token else None


def identify(keys: dict[str, str | None], headers: Mapping[str, str], accounts: AccountService | None = None, token: str | None = None) -> Principal:
    """The caller the request's key or access token names (``token``: one sent another way, e.g. a
    WebSocket's ``?token=``); ``Unauthorized`` without a valid one (keys or accounts must be on)."""
    offered = token or presented_key(headers)
    if offered is None:
        accepted = "an API key (X-API-Key or Authorization: Bearer)" if keys else ""
        if accounts is not None:
            accepted = " or ".join(filter(None, (accepted, "an access token (Authorization: Bearer, from POST /api/v1/auth/login)")))
        raise Unauthorized(f"{accepted} is required")
    if accounts is not None and looks_like_jwt(offered):
        claims = accounts.authenticate(offered)
        return Principal(claims.user_id, account_id=claims.account_id)
    for key, user in keys.items():
        if hmac.compare_digest(key.encode(), offered.encode()):
            return Principal(user)
    raise Unauthorized("the API key is not valid" if keys else "the access token is not valid")


def auth_required(app: FastAPI) -> bool:
    return bool(app.state.api_keys) or app.state.accounts is not None


def identify_for(app: FastAPI, headers: Mapping[str, str], token: str | None = None) -> Principal:
    """The caller of ``app``: anyone (any user) when neither keys nor accounts are on."""
    if not auth_required(app):
        return Principal()
    return identify(app.state.api_keys, headers, app.state.accounts, token)


async def authenticate(request: Request) -> Principal:
    return identify_for(request.app, request.headers)


PrincipalDep = Annotated[Principal, Depends(authenticate)]


class ApiKeyGate:
    """Pure ASGI middleware, outside every body check: a request for a route that depends on
    ``authenticate`` is answered 401 here unless it carries a valid key or access token (keys or accounts on).

    FastAPI reads and parses a route's body before it runs any dependency, and the body limits
    run before FastAPI; without this gate a caller with no key could learn from a 413/415/400
    what a route accepts. The route's own ``authenticate`` still decides who the caller is.

    ``routes``: the app's routes as their routers declare them (included without a prefix).
    """

    def __init__(self, app: ASGIApp, *, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self._protected = [route for route in routes if _depends_on(getattr(route, "dependant", None), authenticate)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            fastapi_app: FastAPI = scope["app"]
            if auth_required(fastapi_app) and self._is_protected(scope):
                try:
                    identify_for(fastapi_app, Headers(scope=scope))
                except Unauthorized as error:
                    await response_for(error)(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _is_protected(self, scope: Scope) -> bool:
        # PARTIAL: the path is a protected route's, the method is not; still nothing for a caller without a key.
        return any(route.matches(scope)[0] is not Match.NONE for route in self._protected)


def _depends_on(dependant: Dependant | None, call: Callable[..., Any]) -> bool:
    if dependant is None:
        return False
    return any(sub.call is call or _depends_on(sub, call) for sub in dependant.dependencies)
