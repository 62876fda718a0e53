"""Operation events, kept in order so that any API replica can stream them and a client that
reconnects resumes after the last id it saw (SSE ``Last-Event-ID``)."""

from __future__ import annotations

import json
import time

from story2video.storage.db import Database
from story2video.storage.records import StoredEvent


class EventRepository:
    def __init__(self, db: Database):
        self.db = db

    def append(self, user_id: str, operation_id: str, type: str, data: dict) -> int:
        """Store an event; its id, greater than every earlier one's."""
        with self.db.transaction() as tx:
            row = tx.execute(
                "INSERT INTO operation_events (user_id, operation_id, type, data, created_at) VALUES (?, ?, ?, ?, ?)"
                " RETURNING event_id",
                (user_id, operation_id, type, json.dumps(data, ensure_ascii=False), time.time()),
            ).fetchone()
        return int(row["event_id"])

    def since(self, user_id: str, operation_id: str, after_id: int, limit: int = 1000) -> list[StoredEvent]:
        """The operation's events with an id above ``after_id``, oldest first, at most ``limit``."""
        rows = self.db.fetch_all(
            "SELECT event_id, type, data, created_at FROM operation_events"
            " WHERE user_id=? AND operation_id=? AND event_id > ? ORDER BY event_id LIMIT ?",
            (user_id, operation_id, after_id, limit),
        )
        return [StoredEvent(int(row["event_id"]), row["type"], json.loads(row["data"]), row["created_at"]) for row in rows]

    def last_id(self, user_id: str, operation_id: str) -> int:
        """The id of the operation's newest event; 0 when it has none."""
        row = self.db.fetch_one(
            "SELECT MAX(event_id) AS last FROM operation_events WHERE user_id=? AND operation_id=?", (user_id, operation_id)
        )
        return int(row["last"]) if row is not None and row["last"] is not None else 0

    def since_for_user(self, user_id: str, after_id: int, limit: int = 1000) -> list[tuple[str, StoredEvent]]:
        """(operation_id, event) of every operation of the user with an id above ``after_id``, oldest first."""
        rows = self.db.fetch_all(
            "SELECT event_id, operation_id, type, data, created_at FROM operation_events"
            " WHERE user_id=? AND event_id > ? ORDER BY event_id LIMIT ?",
            (user_id, after_id, limit),
        )
        return [(row["operation_id"], StoredEvent(int(row["event_id"]), row["type"], json.loads(row["data"]), row["created_at"])) for row in rows]

    def last_id_for_user(self, user_id: str) -> int:
        """The id of the newest event of any of the user's operations; 0 when there is none."""
        row = self.db.fetch_one("SELECT MAX(event_id) AS last FROM operation_events WHERE user_id=?", (user_id,))
        return int(row["last"]) if row is not None and row["last"] is not None else 0

    def prune(self, older_than: float, keep_statuses: tuple[str, ...] = ()) -> int:
        """Delete the events created before ``older_than``, except those of operations whose status is
        one of ``keep_statuses`` (the unfinished ones, say). How many were deleted."""
        if not keep_statuses:
            return self.db.execute("DELETE FROM operation_events WHERE created_at < ?", (older_than,))
        marks = ", ".join("?" for _ in keep_statuses)
        return self.db.execute(
            "DELETE FROM operation_events WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM operations o"
            " WHERE o.user_id=operation_events.user_id AND o.operation_id=operation_events.operation_id"
            f" AND o.status IN ({marks}))",
            (older_than, *keep_statuses),
        )
