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
_FLAG_COLUMNS = {"cancel_requested"}  # stored as 0/1: PostgreSQL will not put a boolean into an INTEGER column
_IDENTITY = ("user_id", "operation_id")
_CHANGING = [column for column in _COLUMNS if column not in _IDENTITY]
_UPDATE = f"UPDATE operations SET {', '.join(f'{column}=?' for column in _CHANGING)} WHERE user_id=? AND operation_id=?"
TERMINAL_STATUSES = ("Success", "Failed", "Cancelled")
_TERMINAL_MARKS = ", ".join("?" for _ in TERMINAL_STATUSES)


def _to_row(op: OperationRecord) -> tuple:
    values = []
    for column in _COLUMNS:
        value = getattr(op, column)
        if column in _JSON_COLUMNS and value is not None:
            value = json.dumps(value, ensure_ascii=False)
        elif column in _FLAG_COLUMNS:
            value = int(bool(value))
        values.append(value)
    return tuple(values)


def _from_row(row) -> OperationRecord:
    data = dict(row)
    for column in _JSON_COLUMNS:
        if data[column] is not None:
            data[column] = json.loads(data[column])
    for column in _FLAG_COLUMNS:
        data[column] = bool(data[column])
    return OperationRecord(**data)


def _encode(column: str, value: object) -> object:
    return json.dumps(value, ensure_ascii=False) if column in _JSON_COLUMNS and value is not None else value


def _shot_fraction(info: dict) -> float:
    if "progress" in info:
        return float(info["progress"])
    return 1.0 if info.get("state") in ("done", "failed") else 0.0


class OperationRepository:
    def __init__(self, db: Database):
        self.db = db

    def insert(self, op: OperationRecord) -> None:
        """Store a new operation; ``DuplicateKey`` when the user already has one with its id."""
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

    # ------------------------------------------------------------ guarded changes of one attempt
    # Each writes only while the row's attempt is ``attempt`` and the operation is unfinished, so a
    # process whose attempt was taken over, or whose operation ended elsewhere, changes nothing.

    def update(self, key: tuple[str, str], attempt: int, **changes: object) -> bool:
        columns = list(changes)
        values = [_encode(column, changes[column]) for column in columns]
        assignments = ", ".join(f"{column}=?" for column in [*columns, "updated_at"])
        count = self.db.execute(
            f"UPDATE operations SET {assignments} WHERE user_id=? AND operation_id=? AND attempt=? AND status NOT IN ({_TERMINAL_MARKS})",
            (*values, time.time(), *key, attempt, *TERMINAL_STATUSES),
        )
        return count == 1

    def raise_progress(self, key: tuple[str, str], attempt: int, value: float) -> bool:
        """progress = max(progress, value); True while this attempt owns the unfinished operation."""
        count = self.db.execute(
            "UPDATE operations SET progress = CASE WHEN progress < ? THEN ? ELSE progress END, updated_at=? "
            f"WHERE user_id=? AND operation_id=? AND attempt=? AND status NOT IN ({_TERMINAL_MARKS})",
            (value, value, time.time(), *key, attempt, *TERMINAL_STATUSES),
        )
        return count == 1

    def merge_shot(self, key: tuple[str, str], attempt: int, shot_id: str, entry: dict, span: tuple[float, float] | None) -> float | None:
        """Set one shot's entry (other shots' entries, written by other processes, stay as they are).

        With ``span`` = (start, weight) of the current stage, the operation's progress rises to where the
        shots' mean progress puts it. Returns the progress after, or None when this attempt no longer owns it.
        """
        with self.db.transaction() as tx:
            row = tx.execute(
                f"SELECT shots, progress, status, attempt FROM operations WHERE user_id=? AND operation_id=?{self.db.for_update}", key
            ).fetchone()
            if row is None or row["attempt"] != attempt or row["status"] in TERMINAL_STATUSES:
                return None
            shots = json.loads(row["shots"])
            shots[shot_id] = entry
            progress = float(row["progress"])
            if span is not None and shots:
                start, weight = span
                mean = sum(_shot_fraction(info) for info in shots.values()) / len(shots)
                progress = max(progress, round(min(start + weight * mean, 0.999), 4))
            tx.execute(
                "UPDATE operations SET shots=?, progress=?, updated_at=? WHERE user_id=? AND operation_id=?",
                (json.dumps(shots, ensure_ascii=False), progress, time.time(), *key),
            )
            return progress

    def finish(
        self,
        key: tuple[str, str],
        attempt: int | None,
        status: str,
        *,
        error: dict | None = None,
        result: dict | None = None,
        unfinished_shots: str | None = None,
        shot_error: dict | None = None,
        only_from: tuple[str, ...] | None = None,
    ) -> OperationRecord | None:
        """End the operation as ``status`` (shots still waiting or working become ``unfinished_shots``).

        ``attempt`` None = whichever attempt; ``only_from`` = only when its status is one of these.
        Returns the finished record, or None when it was not this attempt's to finish or already ended.
        """
        with self.db.transaction() as tx:
            row = tx.execute(f"SELECT * FROM operations WHERE user_id=? AND operation_id=?{self.db.for_update}", key).fetchone()
            if row is None:
                return None
            op = _from_row(row)
            if op.status in TERMINAL_STATUSES or (attempt is not None and op.attempt != attempt):
                return None
            if only_from is not None and op.status not in only_from:
                return None
            op.status, op.error, op.result = status, error, result
            if status == "Success":
                op.progress = 1.0
            if unfinished_shots is not None:
                for info in op.shots.values():
                    if info.get("state") in ("waiting", "working"):
                        info["state"] = unfinished_shots
                        if shot_error is not None:
                            info["error"] = shot_error
            op.updated_at = time.time()
            values = dict(zip(_COLUMNS, _to_row(op)))
            tx.execute(_UPDATE, (*(values[column] for column in _CHANGING), op.user_id, op.operation_id))
            return op

    def request_cancel(self, key: tuple[str, str]) -> bool:
        """Flag an unfinished operation as cancelled; whoever runs it stops at its next check."""
        count = self.db.execute(
            f"UPDATE operations SET cancel_requested=1, updated_at=? WHERE user_id=? AND operation_id=? AND status NOT IN ({_TERMINAL_MARKS})",
            (time.time(), *key, *TERMINAL_STATUSES),
        )
        return count == 1

    def take_over(self, key: tuple[str, str], attempt: int) -> bool:
        """Start attempt ``attempt + 1`` of an unfinished operation whose attempt ``attempt`` was lost."""
        count = self.db.execute(
            "UPDATE operations SET attempt=attempt+1, status='Queued', updated_at=? "
            f"WHERE user_id=? AND operation_id=? AND attempt=? AND status NOT IN ({_TERMINAL_MARKS})",
            (time.time(), *key, attempt, *TERMINAL_STATUSES),
        )
        return count == 1

    def states(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, int, bool]]:
        """(status, attempt, cancel_requested) of each of ``keys`` that exists."""
        if not keys:
            return {}
        where = " OR ".join("(user_id=? AND operation_id=?)" for _ in keys)
        rows = self.db.fetch_all(
            f"SELECT user_id, operation_id, status, attempt, cancel_requested FROM operations WHERE {where}",
            tuple(part for key in keys for part in key),
        )
        return {(row["user_id"], row["operation_id"]): (row["status"], int(row["attempt"]), bool(row["cancel_requested"])) for row in rows}
