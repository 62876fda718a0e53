"""Operation rows: what was asked, where it stands, how it ended.

A row is identified by (user_id, operation_id): each user chooses their own operation ids.
"""

from __future__ import annotations

import json
import time
from dataclasses import fields

from story2video.storage.db import Database
from story2video.storage.records import OperationRecord

_COLUMNS = [f.name for f in fields(OperationRecord)]
_JSON_COLUMNS = {"request", "shots", "error", "result"}
_IDENTITY = ("user_id", "operation_id")
_CHANGING = [column for column in _COLUMNS if column not in _IDENTITY]
_UPDATE = f"UPDATE operations SET {', '.join(f'{column}=?' for column in _CHANGING)} WHERE user_id=? AND operation_id=?"


def _to_row(op: OperationRecord) -> tuple:
    values = []
    for column in _COLUMNS:
        value = getattr(op, column)
        values.append(json.dumps(value, ensure_ascii=False) if column in _JSON_COLUMNS and value is not None else value)
    return tuple(values)


def _from_row(row) -> OperationRecord:
    data = dict(row)
    for column in _JSON_COLUMNS:
        if data[column] is not None:
            data[column] = json.loads(data[column])
    return OperationRecord(**data)


class OperationRepository:
    def __init__(self, db: Database):
        self.db = db

    def insert(self, op: OperationRecord) -> None:
        op.created_at = op.updated_at = time.time()
        self.db.execute(
            f"INSERT INTO operations ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})",
            _to_row(op),
        )

    def save(self, op: OperationRecord) -> None:
        op.updated_at = time.time()
        values = dict(zip(_COLUMNS, _to_row(op)))
        self.db.execute(_UPDATE, (*(values[column] for column in _CHANGING), op.user_id, op.operation_id))

    def get(self, user_id: str, operation_id: str) -> OperationRecord | None:
        row = self.db.fetch_one("SELECT * FROM operations WHERE user_id=? AND operation_id=?", (user_id, operation_id))
        return _from_row(row) if row else None

    def users_with_id(self, operation_id: str, limit: int = 2) -> list[str]:
        """Users who have an operation with this id (at most ``limit`` of them)."""
        rows = self.db.fetch_all("SELECT user_id FROM operations WHERE operation_id=? LIMIT ?", (operation_id, limit))
        return [row["user_id"] for row in rows]

    def list_for_story(self, user_id: str, story_id: str) -> list[OperationRecord]:
        rows = self.db.fetch_all(
            "SELECT * FROM operations WHERE user_id=? AND story_id=? ORDER BY created_at", (user_id, story_id)
        )
        return [_from_row(row) for row in rows]

    def unfinished(self, statuses: tuple[str, ...]) -> list[OperationRecord]:
        marks = ", ".join("?" for _ in statuses)
        rows = self.db.fetch_all(f"SELECT * FROM operations WHERE status IN ({marks})", statuses)
        return [_from_row(row) for row in rows]
