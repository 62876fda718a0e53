"""The SQLite file of an older release opens in this one, with its rows kept and readable; opening by URL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from story2video.errors import ConfigurationError
from story2video.storage.db import SCHEMA_VERSION, Database, open_database
from story2video.storage.operations import OperationRepository
from story2video.storage.records import OperationRecord
from story2video.storage.stories import StoryRepository
from story2video.storage.sqlite import SqliteDatabase

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
    db = SqliteDatabase(schema_1_file)
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
    SqliteDatabase(schema_1_file).close()
    db = SqliteDatabase(schema_1_file)
    assert _primary_key(db) == ["operation_id", "user_id"]
    assert db.fetch_one("SELECT COUNT(*) FROM operations")[0] == 3
    db.close()


def test_a_new_file_has_operations_keyed_by_user(tmp_path: Path):
    db = SqliteDatabase(tmp_path / "new.sqlite3")
    assert _primary_key(db) == ["operation_id", "user_id"]
    db.close()


# Schema 2 as released: operations keyed by (operation_id, user_id), without attempt and cancel_requested.
SCHEMA_2 = """
CREATE TABLE stories (
    user_id TEXT NOT NULL, story_id TEXT NOT NULL, display_name TEXT NOT NULL, script TEXT NOT NULL, style TEXT NOT NULL,
    aspect_ratio TEXT NOT NULL, resolution INTEGER NOT NULL, video_key TEXT, subtitles_key TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, PRIMARY KEY (user_id, story_id)
);
CREATE TABLE shots (
    user_id TEXT NOT NULL, story_id TEXT NOT NULL, shot_id TEXT NOT NULL, sequence INTEGER NOT NULL, subject TEXT NOT NULL,
    detail TEXT NOT NULL, camera TEXT NOT NULL, narration TEXT NOT NULL, tone TEXT NOT NULL, style TEXT NOT NULL,
    seed INTEGER NOT NULL, image_key TEXT, audio_key TEXT, video_key TEXT, updated_at REAL NOT NULL,
    PRIMARY KEY (user_id, story_id, shot_id),
    FOREIGN KEY (user_id, story_id) REFERENCES stories (user_id, story_id) ON DELETE CASCADE
);
CREATE TABLE operations (
    operation_id TEXT NOT NULL, kind TEXT NOT NULL, user_id TEXT NOT NULL, story_id TEXT NOT NULL,
    request_hash TEXT NOT NULL, request TEXT NOT NULL, status TEXT NOT NULL, stage TEXT NOT NULL, progress REAL NOT NULL,
    shots TEXT NOT NULL, error TEXT, result TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (operation_id, user_id)
);
CREATE INDEX operations_by_status ON operations (status);
CREATE INDEX operations_by_story ON operations (user_id, story_id);
CREATE TABLE artifacts (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, rel_path TEXT NOT NULL, media_type TEXT NOT NULL, backend TEXT NOT NULL,
    model TEXT NOT NULL, duration REAL, size_bytes INTEGER NOT NULL, meta TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE uploads (
    upload_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, kind TEXT NOT NULL, format TEXT NOT NULL, artifact_key TEXT NOT NULL,
    size_bytes INTEGER NOT NULL, width INTEGER, height INTEGER, duration REAL, source TEXT NOT NULL, filename TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX uploads_by_user ON uploads (user_id, created_at);
CREATE INDEX uploads_by_artifact ON uploads (artifact_key);
INSERT INTO stories VALUES ('u-a', 'story-1', 'name', 'script', 'style', '16:9', 720, 'v', NULL, 1.5, 2.5);
INSERT INTO shots VALUES ('u-a', 'story-1', 'shot_01', 1, 's', 'd', 'c', 'n', 't', 'style', 7, 'i', 'a', 'v', 2.5);
INSERT INTO operations VALUES ('op-1', 'video.render', 'u-a', 'story-1', 'h', '{}', 'Success', 'final', 1.0, '{}', NULL, '{"video_url": "/v.mp4"}', 10, 20);
INSERT INTO operations VALUES ('op-2', 'video.render', 'u-a', 'story-1', 'h', '{}', 'Running', 'clips', 0.5, '{}', NULL, NULL, 30, 40);
INSERT INTO artifacts VALUES ('k1', 'keyframe', 'k1/k1.png', 'image/png', 'preview', 'm', NULL, 100, '{}', 5);
INSERT INTO uploads VALUES ('up-1', 'u-a', 'image', 'png', 'k1', 100, 64, 64, NULL, 'upload', 'a.png', 6);
PRAGMA user_version=2;
"""
V3_TABLES = {"operation_leases", "operation_events", "provider_jobs", "workers"}


def _rows(conn: sqlite3.Connection, table: str) -> list[tuple]:
    return conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()


def test_a_schema_2_file_keeps_every_row_and_gains_the_new_columns_and_tables(tmp_path: Path):
    path = tmp_path / "v2.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_2)
    before = {table: _rows(conn, table) for table in ("stories", "shots", "operations", "artifacts", "uploads")}
    conn.close()

    SqliteDatabase(path).close()

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    for table in ("stories", "artifacts", "uploads"):
        assert _rows(conn, table) == before[table], table
    # Shots keep every value and gain the cast columns of schema 4: no characters, the narrator reads all.
    assert [row[:-4] for row in _rows(conn, "shots")] == before["shots"]
    assert [row[-4:] for row in _rows(conn, "shots")] == [("[]", "[]", None, 0)]
    # Every old column keeps its value; the two new ones come last, with their defaults.
    assert [row[:-2] for row in _rows(conn, "operations")] == before["operations"]
    assert [row[-2:] for row in _rows(conn, "operations")] == [(0, 0), (0, 0)]
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert V3_TABLES <= tables
    conn.close()

    db = SqliteDatabase(path)
    op = OperationRepository(db).get("u-a", "op-2")
    assert op is not None and (op.status, op.attempt, op.cancel_requested, op.created_at) == ("Running", 0, False, 30)
    shot = StoryRepository(db).get_shot("u-a", "story-1", "shot_01")
    assert shot is not None and (shot.characters, shot.lines, shot.takes) == ([], [], 0)
    assert StoryRepository(db).list_cast("u-a", "story-1") == []
    db.close()


def test_a_schema_1_file_gains_the_schema_3_columns_too(schema_1_file: Path):
    db = SqliteDatabase(schema_1_file)
    op = OperationRepository(db).get("u-a", "op-2")
    assert op is not None and (op.attempt, op.cancel_requested) == (0, False)
    db.close()


def test_a_file_of_a_newer_schema_is_refused(tmp_path: Path):
    path = tmp_path / "future.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(ConfigurationError, match="newer"):
        SqliteDatabase(path)


def test_database_of_a_path_is_still_a_sqlite_file(tmp_path: Path):
    db = Database(tmp_path / "plain.sqlite3")
    assert isinstance(db, SqliteDatabase) and db.dialect == "sqlite" and db.for_update == ""
    db.close()


def test_open_database_chooses_by_url(tmp_path: Path):
    default = open_database("", tmp_path / "default.sqlite3")
    assert isinstance(default, SqliteDatabase) and default.location == str(tmp_path / "default.sqlite3")
    default.close()
    named = open_database(f"sqlite://{tmp_path}/named.sqlite3", tmp_path / "unused.sqlite3")
    assert isinstance(named, SqliteDatabase) and (tmp_path / "named.sqlite3").is_file()
    assert not (tmp_path / "unused.sqlite3").exists()
    named.close()


@pytest.mark.parametrize("url", ["mysql://u:secret@h/db", "sqlite://relative.db", "just-a-path.db"])
def test_open_database_refuses_other_urls_naming_the_setting(tmp_path: Path, url: str):
    with pytest.raises(ConfigurationError, match="DATABASE_URL") as caught:
        open_database(url, tmp_path / "db.sqlite3")
    assert "secret" not in caught.value.message
