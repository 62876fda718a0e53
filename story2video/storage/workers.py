"""Worker processes: who is running, on which host, for which queues, and their last heartbeat."""

from __future__ import annotations

import json
import time

from story2video.storage.db import Database
from story2video.storage.records import WorkerRecord


class WorkerRepository:
    def __init__(self, db: Database):
        self.db = db

    def register(self, worker_id: str, hostname: str, queues: list[str], concurrency: int) -> None:
        """Record the worker as started now (again, if its id was known)."""
        now = time.time()
        self.db.execute(
            "INSERT INTO workers (worker_id, hostname, queues, concurrency, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (worker_id) DO UPDATE SET hostname=excluded.hostname, queues=excluded.queues,"
            " concurrency=excluded.concurrency, started_at=excluded.started_at, heartbeat_at=excluded.heartbeat_at",
            (worker_id, hostname, json.dumps(list(queues)), concurrency, now, now),
        )

    def beat(self, worker_id: str) -> bool:
        """Note that the worker is alive; False when it is not registered (e.g. removed as dead)."""
        return self.db.execute("UPDATE workers SET heartbeat_at=? WHERE worker_id=?", (time.time(), worker_id)) > 0

    def remove(self, worker_id: str) -> bool:
        return self.db.execute("DELETE FROM workers WHERE worker_id=?", (worker_id,)) > 0

    def live(self, within_s: float) -> list[WorkerRecord]:
        """Workers whose last heartbeat is at most ``within_s`` seconds old, by id."""
        rows = self.db.fetch_all(
            "SELECT * FROM workers WHERE heartbeat_at >= ? ORDER BY worker_id", (time.time() - within_s,)
        )
        return [WorkerRecord(**{**dict(row), "queues": json.loads(row["queues"])}) for row in rows]
