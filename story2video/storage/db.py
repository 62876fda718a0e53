"""One SQLite connection per process, guarded by a lock; schema created on open."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

SCHEMA_VERSION = 2  # 2: operations are identified by (operation_id, user_id), no longer by operation_id alone

# Operation ids are chosen by clients, so they are unique per user only. The primary key starts with
# operation_id so that a lookup by id alone (a client that does not say its user) uses it too.
_OPERATIONS = (
    """CREATE TABLE IF NOT EXISTS operations (
    operation_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    stage TEXT NOT NULL,
    progress REAL NOT NULL,
    shots TEXT NOT NULL,
    error TEXT,
    result TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (operation_id, user_id)
)""",
    "CREATE INDEX IF NOT EXISTS operations_by_status ON operations (status)",
    "CREATE INDEX IF NOT EXISTS operations_by_story ON operations (user_id, story_id)",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stories (
    user_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    script TEXT NOT NULL,
    style TEXT NOT NULL,
    aspect_ratio TEXT NOT NULL,
    resolution INTEGER NOT NULL,
    video_key TEXT,
    subtitles_key TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (user_id, story_id)
);
CREATE TABLE IF NOT EXISTS shots (
    user_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    shot_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    camera TEXT NOT NULL,
    narration TEXT NOT NULL,
    tone TEXT NOT NULL,
    style TEXT NOT NULL,
    seed INTEGER NOT NULL,
    image_key TEXT,
    audio_key TEXT,
    video_key TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (user_id, story_id, shot_id),
    FOREIGN KEY (user_id, story_id) REFERENCES stories (user_id, story_id) ON DELETE CASCADE
);
""" + ";\n".join(_OPERATIONS) + """;
CREATE TABLE IF NOT EXISTS artifacts (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    rel_path TEXT NOT NULL,
    media_type TEXT NOT NULL,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    duration REAL,
    size_bytes INTEGER NOT NULL,
    meta TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    format TEXT NOT NULL,
    artifact_key TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    width INTEGER,
    height INTEGER,
    duration REAL,
    source TEXT NOT NULL,
    filename TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_user ON uploads (user_id, created_at);
CREATE INDEX IF NOT EXISTS uploads_by_artifact ON uploads (artifact_key);
"""


class Database:
    """Thread-safe access to the service's SQLite file (WAL mode, foreign keys on)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA busy_timeout=5000")
        with self._lock:
            self._conn.executescript(_SCHEMA)  # runs in its own transaction
            self._key_operations_by_user()
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _key_operations_by_user(self) -> None:
        """Schema 1 keyed operations by operation_id alone: rebuild the table (SQLite cannot change a
        primary key in place), keeping every row, in one transaction."""
        with self.transaction() as conn:
            columns = {row["name"]: row["pk"] for row in conn.execute("PRAGMA table_info(operations)")}
            if columns.get("user_id"):
                return
            conn.execute("ALTER TABLE operations RENAME TO operations_schema_1")
            for (index,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='operations_schema_1' AND sql IS NOT NULL"
            ).fetchall():
                conn.execute(f'DROP INDEX "{index}"')  # its name is needed for the new table's index
            for statement in _OPERATIONS:
                conn.execute(statement)
            names = ", ".join(columns)
            conn.execute(f"INSERT INTO operations ({names}) SELECT {names} FROM operations_schema_1")
            conn.execute("DROP TABLE operations_schema_1")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def fetch_one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        with self._lock:
            return self._conn.execute(sql, params).fetchone()

    def fetch_all(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        with self.transaction() as conn:
            return conn.execute(sql, params).rowcount

    def close(self) -> None:
        with self._lock:
            self._conn.close()
