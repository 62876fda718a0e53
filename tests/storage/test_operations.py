"""Operation rows are identified by (user_id, operation_id), on both databases."""

from __future__ import annotations

import pytest

from story2video.storage.db import Database, DuplicateKey
from story2video.storage.operations import OperationRepository
from story2video.storage.records import OperationRecord


@pytest.fixture
def repo(db: Database) -> OperationRepository:
    return OperationRepository(db)


def _record(user_id: str, story_id: str = "s", status: str = "Queued") -> OperationRecord:
    return OperationRecord("op", "test", user_id, story_id, "h", {}, status, "queued", 0.0)


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
    with pytest.raises(DuplicateKey):
        repo.insert(_record("u-a"))
    assert len(repo.db.fetch_all("SELECT 1 FROM operations")) == 1


def test_every_field_reads_back_as_written(repo: OperationRepository):
    op = OperationRecord(
        "op", "video.render", "u", "s", "h", {"text": "中文 100% ?"}, "Running", "clips", 0.25,
        shots={"shot_01": {"state": "done"}}, error={"code": "x", "message": "m"}, result={"video_url": "/v.mp4"},
        attempt=3, cancel_requested=True,
    )  # fmt: skip
    repo.insert(op)
    stored = repo.get("u", "op")
    assert stored == op
    assert stored.cancel_requested is True and stored.attempt == 3
    assert stored.created_at == op.created_at  # a timestamp keeps its microseconds


def test_new_fields_default_and_save(repo: OperationRepository):
    op = _record("u")
    repo.insert(op)
    assert (repo.get("u", "op").attempt, repo.get("u", "op").cancel_requested) == (0, False)
    op.attempt, op.cancel_requested = 1, True
    repo.save(op)
    assert (repo.get("u", "op").attempt, repo.get("u", "op").cancel_requested) == (1, True)


def test_listing_by_story_and_unfinished(repo: OperationRepository):
    for user_id, story_id, status in (("u-a", "s-1", "Running"), ("u-b", "s-1", "Success"), ("u-c", "s-2", "Queued")):
        repo.insert(_record(user_id, story_id, status))
    assert [op.user_id for op in repo.list_for_story("u-a", "s-1")] == ["u-a"]
    assert sorted(op.user_id for op in repo.unfinished(("Queued", "Running"))) == ["u-a", "u-c"]
