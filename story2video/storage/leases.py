"""Leases on operations: which worker holds which part of an operation, until when.

A lease is (user_id, operation_id, holder): ``holder`` tells apart the several holds one operation may
have (its driver, a shot's step on another worker). A live worker renews all its leases at once; a
lease not renewed in time expires, and its operation can be taken over. SQL only: what to do with an
expired lease is the caller's business.
"""

from __future__ import annotations

import time
from typing import NamedTuple

from story2video.storage.db import Database


class LeasedOperation(NamedTuple):
    user_id: str
    operation_id: str
    attempt: int


class WorkerLease(NamedTuple):
    user_id: str
    operation_id: str
    attempt: int
    holder: str


class LeaseRepository:
    def __init__(self, db: Database):
        self.db = db

    def take(self, user_id: str, operation_id: str, holder: str, worker_id: str, attempt: int, ttl_s: float) -> None:
        """Hold the lease for ``ttl_s`` seconds from now, whoever held it before."""
        self.db.execute(
            "INSERT INTO operation_leases (user_id, operation_id, holder, worker_id, attempt, expires_at) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (user_id, operation_id, holder) DO UPDATE SET"
            " worker_id=excluded.worker_id, attempt=excluded.attempt, expires_at=excluded.expires_at",
            (user_id, operation_id, holder, worker_id, attempt, time.time() + ttl_s),
        )

    def renew(self, worker_id: str, ttl_s: float) -> int:
        """Extend every lease of the worker to ``ttl_s`` seconds from now; how many it holds."""
        return self.db.execute("UPDATE operation_leases SET expires_at=? WHERE worker_id=?", (time.time() + ttl_s, worker_id))

    def release(self, user_id: str, operation_id: str, holder: str) -> bool:
        """Give the lease up; False when there was none."""
        return (
            self.db.execute(
                "DELETE FROM operation_leases WHERE user_id=? AND operation_id=? AND holder=?", (user_id, operation_id, holder)
            )
            > 0
        )

    def expired(self, now: float | None = None) -> list[LeasedOperation]:
        """Each operation with at least one expired lease, once, with the highest attempt its leases name."""
        rows = self.db.fetch_all(
            "SELECT user_id, operation_id, MAX(attempt) AS attempt FROM operation_leases WHERE expires_at < ?"
            " GROUP BY user_id, operation_id ORDER BY user_id, operation_id",
            (time.time() if now is None else now,),
        )
        return [LeasedOperation(row["user_id"], row["operation_id"], row["attempt"]) for row in rows]

    def drop_expired(self, user_id: str, operation_id: str, now: float | None = None) -> int:
        """Delete the operation's expired leases; how many there were."""
        return self.db.execute(
            "DELETE FROM operation_leases WHERE user_id=? AND operation_id=? AND expires_at < ?",
            (user_id, operation_id, time.time() if now is None else now),
        )

    def holders(self, user_id: str, operation_id: str) -> list[str]:
        """The holders of the operation's leases (expired ones too), sorted."""
        rows = self.db.fetch_all(
            "SELECT holder FROM operation_leases WHERE user_id=? AND operation_id=? ORDER BY holder", (user_id, operation_id)
        )
        return [row["holder"] for row in rows]

    def for_worker(self, worker_id: str) -> list[WorkerLease]:
        rows = self.db.fetch_all(
            "SELECT user_id, operation_id, attempt, holder FROM operation_leases WHERE worker_id=?"
            " ORDER BY user_id, operation_id, holder",
            (worker_id,),
        )
        return [WorkerLease(row["user_id"], row["operation_id"], row["attempt"], row["holder"]) for row in rows]

    def active_operations(self, now: float | None = None) -> int:
        """How many operations hold at least one lease that has not expired."""
        row = self.db.fetch_one(
            "SELECT COUNT(DISTINCT user_id || '/' || operation_id) AS n FROM operation_leases WHERE expires_at >= ?",
            (time.time() if now is None else now,),
        )
        return int(row["n"]) if row else 0

    def drop(self, user_id: str, operation_id: str) -> int:
        """Delete every lease of the operation; how many there were."""
        return self.db.execute("DELETE FROM operation_leases WHERE user_id=? AND operation_id=?", (user_id, operation_id))
