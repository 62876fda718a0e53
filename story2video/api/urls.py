"""Artifact URLs are stored relative; responses carry absolute ones."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from story2video.config import Settings


def base_url(request: Request, settings: Settings) -> str:
    return (settings.public_base_url or str(request.base_url)).rstrip("/")


def absolutize(value: Any, base: str) -> Any:
    """Prefix every relative ``url`` / ``*_url`` string in a JSON-like structure with ``base``."""
    if isinstance(value, list):
        return [absolutize(item, base) for item in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if isinstance(item, str) and item.startswith("/") and (key == "url" or key.endswith("_url")):
            out[key] = base + item
        else:
            out[key] = absolutize(item, base)
    return out
