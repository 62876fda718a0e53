"""Operation rows: what was asked, where it stands, how it ended."""

from __future__ import annotations

import json
import time
from dataclasses import fields

from story2video.storage.db import Database
from story2video.storage.records import OperationRecord

_COLUMNS = [f.name for f in fields(OperationRecord)]
_JSON_COLUMNS = {"request", "shots", "error", "result"}


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
        assignments = ", ".join(f"{col}=?" for col in _COLUMNS[1:])
        row = _to_row(op)
        self.db.execute(f"UPDATE operations SET {assignments} WHERE operation_id=?", (*row[1:], row[0]))

    def get(self, operation_id: str) -> OperationRecord | None:
        row = self.db.fetch_one("SELECT * FROM operations WHERE operation_id=?", (operation_id,))
        return _from_row(row) if row else None

    def list_for_story(self, user_id: str, story_id: str) -> list[OperationRecord]:
        rows = self.db.fetch_all(
            "SELECT * FROM operations WHERE user_id=? AND story_id=? ORDER BY created_at", (user_id, story_id)
        )
        return [_from_row(row) for row in rows]

    def unfinished(self, statuses: tuple[str, ...]) -> list[OperationRecord]:
        marks = ", ".join("?" for _ in statuses)
        rows = self.db.fetch_all(f"SELECT * FROM operations WHERE status IN ({marks})", statuses)
        return [_from_row(row) for row in rows]
