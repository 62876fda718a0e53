"""Artifact URLs are stored relative; responses carry absolute ones, signed with an expiry when
API keys are on (so a browser or player can fetch them, and nobody can fetch one they were not given)."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request

from story2video.config import Settings
from story2video.pipeline.deps import ARTIFACT_URL_PREFIX

SIGNATURE_QUERY = ("expires", "sig")


@dataclass(frozen=True)
class ArtifactSigner:
    secret: bytes
    ttl_s: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ArtifactSigner | None:
        """None when API keys and accounts are off: artifact URLs are then plain (unguessable content hashes)."""
        if not settings.api_keys and not settings.accounts_enabled:
            return None
        account_part = "\n" + settings.account_token_secret if settings.accounts_enabled else ""
        seed = settings.artifact_url_secret or "artifact-urls\n" + settings.api_keys + account_part
        return cls(hashlib.sha256(seed.encode("utf-8")).digest(), settings.artifact_url_ttl_s)

    def signature(self, name: str, expires: int) -> str:
        return hmac.new(self.secret, f"{name}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def sign(self, path: str, now: float | None = None) -> str:
        # Expiry rounded up to the hour: links made in the same hour are identical (cache-friendly).
        expires = int(((now or time.time()) + self.ttl_s) // 3600 + 1) * 3600
        name = path.rsplit("/", 1)[-1]
        return f"{path}?{urlencode({'expires': expires, 'sig': self.signature(name, expires)})}"

    def valid(self, name: str, expires: str | None, sig: str | None, now: float | None = None) -> bool:
        if not expires or not sig or not expires.isdigit() or int(expires) < (now or time.time()):
            return False
        return hmac.compare_digest(self.signature(name, int(expires)), sig)


@dataclass(frozen=True)
class Links:
    base: str
    signer: ArtifactSigner | None

    def absolutize(self, value: Any) -> Any:
        """Prefix every relative ``url`` / ``*_url`` string in a JSON-like structure with ``base``
        (signing artifact links when a signer is set)."""
        if isinstance(value, list):
            return [self.absolutize(item) for item in value]
        if not isinstance(value, dict):
            return value
        return {key: self._link(key, item) for key, item in value.items()}

    def _link(self, key: str, item: Any) -> Any:
        if not (isinstance(item, str) and item.startswith("/") and (key == "url" or key.endswith("_url"))):
            return self.absolutize(item)
        if self.signer is not None and item.startswith(ARTIFACT_URL_PREFIX + "/"):
            item = self.signer.sign(item)
        return self.base + item


async def request_links(request: Request) -> Links:
    settings: Settings = request.app.state.settings
    base = (settings.public_base_url or str(request.base_url)).rstrip("/")
    return Links(base, request.app.state.artifact_signer)


LinksDep = Annotated[Links, Depends(request_links)]
