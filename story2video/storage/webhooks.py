"""Webhooks as stored: users' registered callbacks, and the deliveries (with every attempt) of the
callbacks of finished operations. Pending deliveries live here, so a restart loses none."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from story2video.storage.db import Database, Row

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass
class WebhookRegistration:
    user_id: str
    url: str
    secret: str
    created_at: float
    updated_at: float


@dataclass
class WebhookAttempt:
    attempt: int
    started_at: float
    duration_s: float
    status_code: int | None
    error: str | None


@dataclass
class WebhookDelivery:
    delivery_id: int
    user_id: str
    operation_id: str
    event: str  # operation.completed | operation.failed | operation.cancelled
    url: str
    target: str  # "request" (its callback_url, signed with WEBHOOK_SECRET) | "user" (the registration's secret)
    status: str  # pending | delivered | failed
    attempts: int
    body: str | None  # fixed at the first attempt, so every retry sends the same bytes
    last_error: str | None
    next_attempt_at: float
    deadline_at: float
    created_at: float
    updated_at: float
    history: list[WebhookAttempt] = field(default_factory=list)


def _delivery(row: Row) -> WebhookDelivery:
    names = [name for name in WebhookDelivery.__dataclass_fields__ if name != "history"]
    return WebhookDelivery(**{name: row[name] for name in names})


class WebhookRepository:
    def __init__(self, db: Database):
        self.db = db

    # ------------------------------------------------------------ registrations

    def register(self, user_id: str, url: str, secret: str) -> WebhookRegistration:
        now = time.time()
        self.db.execute(
            "INSERT INTO webhook_registrations (user_id, url, secret, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET url=excluded.url, secret=excluded.secret, updated_at=excluded.updated_at",
            (user_id, url, secret, now, now),
        )
        registration = self.registration(user_id)
        assert registration is not None
        return registration

    def registration(self, user_id: str) -> WebhookRegistration | None:
        row = self.db.fetch_one("SELECT * FROM webhook_registrations WHERE user_id=?", (user_id,))
        return WebhookRegistration(**dict(row)) if row is not None else None

    def unregister(self, user_id: str) -> bool:
        return self.db.execute("DELETE FROM webhook_registrations WHERE user_id=?", (user_id,)) > 0

    # ------------------------------------------------------------ deliveries

    def enqueue(self, user_id: str, operation_id: str, event: str, url: str, target: str, deadline_at: float) -> bool:
        """A delivery due now; False when the operation already has one (its end is told once)."""
        now = time.time()
        changed = self.db.execute(
            "INSERT INTO webhook_deliveries (user_id, operation_id, event, url, target, status, attempts, next_attempt_at,"
            " deadline_at, claimed_until, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, 0, ?, ?)"
            " ON CONFLICT (user_id, operation_id) DO NOTHING",
            (user_id, operation_id, event, url, target, PENDING, now, deadline_at, now, now),
        )
        return changed > 0

    def claim_due(self, now: float, hold_s: float, limit: int) -> list[WebhookDelivery]:
        """Pending deliveries due by ``now``, claimed for ``hold_s`` seconds: another sender (an API replica)
        skips them meanwhile, and a sender that died leaves them to the others once the claim expires."""
        with self.db.transaction() as tx:
            rows = tx.execute(
                "UPDATE webhook_deliveries SET claimed_until=? WHERE delivery_id IN (SELECT delivery_id FROM webhook_deliveries"
                " WHERE status=? AND next_attempt_at <= ? AND claimed_until <= ? ORDER BY next_attempt_at LIMIT ?)"
                " AND status=? AND claimed_until <= ? RETURNING *",
                (now + hold_s, PENDING, now, now, limit, PENDING, now),
            ).fetchall()
        return sorted((_delivery(row) for row in rows), key=lambda delivery: delivery.next_attempt_at)

    def release(self, delivery_id: int) -> None:
        """Give up a claim without an attempt (the sender stopped): the delivery is due again at once."""
        self.db.execute("UPDATE webhook_deliveries SET claimed_until=0 WHERE delivery_id=?", (delivery_id,))

    def fix_body(self, delivery_id: int, body: str) -> None:
        self.db.execute("UPDATE webhook_deliveries SET body=? WHERE delivery_id=? AND body IS NULL", (body, delivery_id))

    def record_attempt(
        self, delivery: WebhookDelivery, attempt: WebhookAttempt, status: str, next_attempt_at: float | None = None
    ) -> None:
        """Store one attempt and what follows it: delivered, failed for good, or pending until ``next_attempt_at``."""
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_s, status_code, error) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (delivery_id, attempt) DO NOTHING",
                (delivery.delivery_id, attempt.attempt, attempt.started_at, attempt.duration_s, attempt.status_code, attempt.error),
            )
            tx.execute(
                "UPDATE webhook_deliveries SET status=?, attempts=?, last_error=?, next_attempt_at=?, claimed_until=0, updated_at=?"
                " WHERE delivery_id=?",
                (
                    status,
                    attempt.attempt,
                    attempt.error,
                    next_attempt_at if next_attempt_at is not None else delivery.next_attempt_at,
                    time.time(),
                    delivery.delivery_id,
                ),
            )

    def deliveries(self, user_id: str, operation_id: str) -> list[WebhookDelivery]:
        """The operation's deliveries (at most one), each with its attempts in order."""
        rows = self.db.fetch_all(
            "SELECT * FROM webhook_deliveries WHERE user_id=? AND operation_id=? ORDER BY delivery_id", (user_id, operation_id)
        )
        found = [_delivery(row) for row in rows]
        for delivery in found:
            attempts = self.db.fetch_all(
                "SELECT attempt, started_at, duration_s, status_code, error FROM webhook_attempts WHERE delivery_id=? ORDER BY attempt",
                (delivery.delivery_id,),
            )
            delivery.history = [WebhookAttempt(**dict(row)) for row in attempts]
        return found
