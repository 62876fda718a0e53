"""Optional API keys (``X-API-Key`` or ``Authorization: Bearer``), each for all users or one user_id.

With API_KEYS empty every request is allowed. With keys set, every route but /health needs one;
a key scoped to a user may act only for that user_id and sees everyone else's stories and
operations as not found.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

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


def presented_key(request: Request) -> str | None:
    header = request.headers.get("x-api-key")
    if header:
        return header.strip()
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token else None


async def authenticate(request: Request) -> Principal:
    keys: dict[str, str | None] = request.app.state.api_keys
    if not keys:
        return Principal()
    offered = presented_key(request)
    if offered is None:
        raise Unauthorized("an API key is required: send it as X-API-Key or Authorization: Bearer")
    for key, user in keys.items():
        if hmac.compare_digest(key.encode(), offered.encode()):
            return Principal(user)
    raise Unauthorized("the API key is not valid")


PrincipalDep = Annotated[Principal, Depends(authenticate)]
