"""Operation rows are identified by (user_id, operation_id)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from story2video.storage.db import Database
from story2video.storage.operations import OperationRepository
from story2video.storage.records import OperationRecord


@pytest.fixture
def repo(tmp_path: Path):
    db = Database(tmp_path / "db.sqlite3")
    yield OperationRepository(db)
    db.close()


def _record(user_id: str, story_id: str = "s") -> OperationRecord:
    return OperationRecord("op", "test", user_id, story_id, "h", {}, "Queued", "queued", 0.0)


def test_two_users_rows_with_one_id_are_read_and_saved_apart(repo: OperationRepository):
    a, b = _record("u-a", "story-a"), _record("u-b", "story-b")
    repo.insert(a)
    repo.insert(b)
    b.status, b.progress = "Running", 0.5
    repo.save(b)
    assert repo.get("u-a", "op").status == "Queued" and repo.get("u-a", "op").story_id == "story-a"
    assert repo.get("u-b", "op").status == "Running" and repo.get("u-b", "op").progress == 0.5
    assert repo.get("u-c", "op") is None
    assert sorted(repo.users_with_id("op")) == ["u-a", "u-b"]
    assert repo.users_with_id("op", limit=1) in (["u-a"], ["u-b"])


def test_one_user_cannot_have_one_id_twice(repo: OperationRepository):
    repo.insert(_record("u-a"))
    with pytest.raises(sqlite3.IntegrityError):
        repo.insert(_record("u-a"))
