"""The signature of a callback: HMAC-SHA256 over ``<timestamp>.<body>``, as a receiver checks it."""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Story2Video-Timestamp"
SIGNATURE_HEADER = "X-Story2Video-Signature"
EVENT_HEADER = "X-Story2Video-Event"
DELIVERY_HEADER = "X-Story2Video-Delivery"
ATTEMPT_HEADER = "X-Story2Video-Attempt"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, "<timestamp>." + body)."""
    digest = hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signed: str, now: float, tolerance_s: float = 300.0) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent (no replay of an old call)."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, int(timestamp), body), signed)
