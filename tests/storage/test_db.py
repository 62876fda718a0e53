"""The database file of an older release opens in this one, with its rows kept and readable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from story2video.storage.db import SCHEMA_VERSION, Database
from story2video.storage.operations import OperationRepository
from story2video.storage.records import OperationRecord

# Schema 1 as released: operations keyed by operation_id alone.
SCHEMA_1_OPERATIONS = """
CREATE TABLE operations (
    operation_id TEXT PRIMARY KEY,
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
    updated_at REAL NOT NULL
);
CREATE INDEX operations_by_status ON operations (status);
CREATE INDEX operations_by_story ON operations (user_id, story_id);
PRAGMA user_version=1;
"""


@pytest.fixture
def schema_1_file(tmp_path: Path) -> Path:
    path = tmp_path / "story2video.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_1_OPERATIONS)
    conn.executemany(
        "INSERT INTO operations VALUES (?, 'video.render', ?, 'story-1', 'h', '{\"a\": 1}', ?, 'final', 1.0, '{}', NULL, ?, 10, 20)",
        [("op-1", "u-a", "Success", '{"video_url": "/v.mp4"}'), ("op-2", "u-a", "Running", None), ("op-3", "u-b", "Failed", None)],
    )
    conn.commit()
    conn.close()
    return path


def _primary_key(db: Database) -> list[str]:
    rows = db.fetch_all("PRAGMA table_info(operations)")
    return [row["name"] for row in sorted((row for row in rows if row["pk"]), key=lambda row: row["pk"])]


def test_schema_1_operations_migrate_with_their_rows(schema_1_file: Path):
    db = Database(schema_1_file)
    repo = OperationRepository(db)
    assert _primary_key(db) == ["operation_id", "user_id"]
    assert db.fetch_one("PRAGMA user_version")[0] == SCHEMA_VERSION
    done = repo.get("u-a", "op-1")
    assert done is not None and done.result == {"video_url": "/v.mp4"} and done.request == {"a": 1}
    assert (done.created_at, done.updated_at) == (10, 20)
    assert [record.operation_id for record in repo.unfinished(("Running",))] == ["op-2"]
    assert repo.users_with_id("op-3") == ["u-b"]
    indexes = {row["name"] for row in db.fetch_all("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='operations'")}
    assert {"operations_by_status", "operations_by_story"} <= indexes
    assert db.fetch_one("SELECT name FROM sqlite_master WHERE name LIKE 'operations_schema_%'") is None
    # Now another user may use the same id.
    repo.insert(OperationRecord("op-1", "video.render", "u-b", "story-2", "h2", {}, "Queued", "queued", 0.0))
    assert sorted(repo.users_with_id("op-1")) == ["u-a", "u-b"]
    db.close()


def test_opening_a_migrated_file_again_changes_nothing(schema_1_file: Path):
    Database(schema_1_file).close()
    db = Database(schema_1_file)
    assert _primary_key(db) == ["operation_id", "user_id"]
    assert db.fetch_one("SELECT COUNT(*) FROM operations")[0] == 3
    db.close()


def test_a_new_file_has_operations_keyed_by_user(tmp_path: Path):
    db = Database(tmp_path / "new.sqlite3")
    assert _primary_key(db) == ["operation_id", "user_id"]
    db.close()
