"""Short-lived access tokens (JWT, HS256, PyJWT) and opaque refresh tokens (random; stored as digests)."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from story2video.errors import ConfigurationError, Unauthorized

ISSUER = "story2video"
AUDIENCE = "story2video-api"
ALGORITHM = "HS256"


def _jwt():
    try:
        import jwt
    except ImportError as error:
        raise ConfigurationError(f"ACCOUNTS_ENABLED needs PyJWT ({error}): pip install -r requirements-api.txt") from error
    return jwt


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    account_id: int
    username: str
    expires_at: int


class AccessTokens:
    def __init__(self, secret: str, ttl_s: int):
        if len(secret) < 32:
            raise ConfigurationError("ACCOUNT_TOKEN_SECRET must be at least 32 characters long")
        self._jwt = _jwt()
        self._secret = secret
        self.ttl_s = ttl_s

    def issue(self, account_id: int, user_id: str, username: str, now: float | None = None) -> tuple[str, int]:
        """(the token, its lifetime in seconds)."""
        issued = int(now if now is not None else time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(account_id),
            "uid": user_id,
            "name": username,
            "iat": issued,
            "exp": issued + self.ttl_s,
            "jti": secrets.token_urlsafe(12),
        }
        return self._jwt.encode(claims, self._secret, algorithm=ALGORITHM), self.ttl_s

    def verify(self, token: str) -> AccessClaims:
        jwt = self._jwt
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )  # fmt: skip
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the access token has expired: refresh it (POST /api/v1/auth/refresh) or log in again") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("the access token is not valid") from None
        try:
            return AccessClaims(str(claims["uid"]), int(claims["sub"]), str(claims.get("name", "")), int(claims["exp"]))
        except (KeyError, ValueError, TypeError):
            raise Unauthorized("the access token is not valid") from None


def looks_like_jwt(token: str) -> bool:
    """Three base64url parts: an access token, not an API key (keys are free text without dots as a rule)."""
    parts = token.split(".")
    return len(parts) == 3 and all(parts) and token.startswith("eyJ")


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
