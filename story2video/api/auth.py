"""Optional API keys (``X-API-Key`` or ``Authorization: Bearer``), each for all users or one user_id.

With API_KEYS empty every request is allowed. With keys set, every route that depends on
``authenticate`` needs one (all but /health, the docs, the page and signed artifact links); a key
scoped to a user may act only for that user_id and sees everyone else's stories and operations as
not found.

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

from story2video.api.errors import response_for
from story2video.errors import ConfigurationError, Forbidden, NotFound, Unauthorized


@dataclass(frozen=True)
class Principal:
    """Who is calling: ``user_id`` None means any user (no auth, or an unscoped key)."""

    user_id: str | None = None

    def require(self, user_id: str) -> None:
        """Acting for ``user_id`` (create, render, list): refused unless the key allows it."""
        if self.user_id is not None and self.user_id != user_id:
            raise Forbidden(f"this API key may only act for user '{self.user_id}'", param="user_id")

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


def identify(keys: dict[str, str | None], headers: Mapping[str, str]) -> Principal:
    """The caller the request's key names; ``Unauthorized`` without a valid key (keys must be set)."""
    offered = presented_key(headers)
    if offered is None:
        raise Unauthorized("an API key is required: send it as X-API-Key or Authorization: Bearer")
    for key, user in keys.items():
        if hmac.compare_digest(key.encode(), offered.encode()):
            return Principal(user)
    raise Unauthorized("the API key is not valid")


async def authenticate(request: Request) -> Principal:
    keys: dict[str, str | None] = request.app.state.api_keys
    return identify(keys, request.headers) if keys else Principal()


PrincipalDep = Annotated[Principal, Depends(authenticate)]


class ApiKeyGate:
    """Pure ASGI middleware, outside every body check: a request for a route that depends on
    ``authenticate`` is answered 401 here unless it carries a valid key (API keys on).

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
            keys: dict[str, str | None] = fastapi_app.state.api_keys
            if keys and self._is_protected(scope):
                try:
                    identify(keys, Headers(scope=scope))
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
