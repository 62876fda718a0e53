"""Artifact keys: a hash of everything that decides an artifact's content."""

from __future__ import annotations

import hashlib
import json

# Bump when a stage's output for the same inputs changes (new drawing code, new encode settings).
PIPELINE_VERSION = 2


def artifact_key(kind: str, **inputs: object) -> str:
    payload = json.dumps({"kind": kind, "version": PIPELINE_VERSION, **inputs}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def request_hash(kind: str, body: dict) -> str:
    payload = json.dumps({"kind": kind, "body": body}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def derive_seed(base: int, *parts: object) -> int:
    digest = hashlib.sha256(json.dumps([base, *parts], ensure_ascii=False).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
