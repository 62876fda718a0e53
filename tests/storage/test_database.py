"""The one interface behaves alike on SQLite and PostgreSQL: transactions, duplicate keys, rows, placeholders."""

from __future__ import annotations

import time

import pytest

from story2video.storage.db import Database, DuplicateKey


def _upload_row(upload_id: str, created_at: float = 1.0) -> tuple:
    return (upload_id, "u", "image", "png", "k", 1, None, None, None, "upload", "a.png", created_at)


INSERT_UPLOAD = (
    "INSERT INTO uploads (upload_id, user_id, kind, format, artifact_key, size_bytes, width, height, duration, source, filename, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _upload_ids(db: Database) -> list[str]:
    return [row["upload_id"] for row in db.fetch_all("SELECT upload_id FROM uploads ORDER BY upload_id")]


def test_a_transaction_commits_all_or_nothing(db: Database):
    with db.transaction() as tx:
        tx.execute(INSERT_UPLOAD, _upload_row("a"))
        tx.executemany(INSERT_UPLOAD, [_upload_row("b"), _upload_row("c")])
    with pytest.raises(RuntimeError, match="midway"):
        with db.transaction() as tx:
            tx.execute(INSERT_UPLOAD, _upload_row("d"))
            raise RuntimeError("midway")
    assert _upload_ids(db) == ["a", "b", "c"]


def test_a_duplicate_key_rolls_its_transaction_back_and_ends_it(db: Database):
    db.execute(INSERT_UPLOAD, _upload_row("a"))
    with pytest.raises(DuplicateKey):
        with db.transaction() as tx:
            tx.execute(INSERT_UPLOAD, _upload_row("b"))
            tx.execute(INSERT_UPLOAD, _upload_row("a"))
    assert _upload_ids(db) == ["a"]
    with pytest.raises(DuplicateKey):
        db.execute(INSERT_UPLOAD, _upload_row("a"))
    with pytest.raises(RuntimeError, match="outside the transaction"):
        with db.transaction() as tx:
            try:
                tx.execute(INSERT_UPLOAD, _upload_row("a"))
            except DuplicateKey:
                tx.execute(INSERT_UPLOAD, _upload_row("c"))  # PostgreSQL would refuse: the transaction is aborted
    assert _upload_ids(db) == ["a"]


def test_a_duplicate_in_executemany_is_a_duplicate_key(db: Database):
    with pytest.raises(DuplicateKey):
        with db.transaction() as tx:
            tx.executemany(INSERT_UPLOAD, [_upload_row("a"), _upload_row("a")])
    assert _upload_ids(db) == []


def test_rows_read_by_name_position_and_as_dict(db: Database):
    db.execute(INSERT_UPLOAD, _upload_row("a"))
    row = db.fetch_one("SELECT upload_id, size_bytes, width FROM uploads")
    assert (row["upload_id"], row[1], row["width"]) == ("a", 1, None)
    assert dict(row) == {"upload_id": "a", "size_bytes": 1, "width": None}
    assert list(row) == ["a", 1, None] and list(row.keys()) == ["upload_id", "size_bytes", "width"]
    assert dict(db.fetch_all("SELECT kind, COUNT(*) FROM uploads GROUP BY kind")) == {"image": 1}
    assert db.fetch_one("SELECT upload_id FROM uploads WHERE upload_id=?", ("none",)) is None


def test_percent_and_question_marks_in_literals_and_values_are_kept(db: Database):
    db.execute(INSERT_UPLOAD, _upload_row("50% off?"))
    assert db.fetch_one("SELECT upload_id FROM uploads WHERE upload_id LIKE '%off%' AND ? = ?", (1, 1))[0] == "50% off?"
    assert db.fetch_one("SELECT 'a?b' AS text")["text"] == "a?b"
    assert db.fetch_one("SELECT COUNT(*) AS n FROM uploads WHERE upload_id LIKE '50\\% off?%' ESCAPE '\\'")["n"] == 1


def test_execute_counts_rows_and_a_statement_without_rows_fetches_none(db: Database):
    db.execute(INSERT_UPLOAD, _upload_row("a"))
    db.execute(INSERT_UPLOAD, _upload_row("b"))
    assert db.execute("UPDATE uploads SET size_bytes=2") == 2
    with db.transaction() as tx:
        cursor = tx.execute("DELETE FROM uploads WHERE upload_id=?", ("a",))
        assert (cursor.rowcount, cursor.fetchone(), cursor.fetchall()) == (1, None, [])


def test_a_row_locking_select_runs(db: Database):
    db.execute(INSERT_UPLOAD, _upload_row("a"))
    with db.transaction() as tx:
        row = tx.execute(f"SELECT upload_id FROM uploads WHERE upload_id=?{db.for_update}", ("a",)).fetchone()
    assert row["upload_id"] == "a"


def test_timestamps_keep_their_microseconds(db: Database):
    now = time.time()
    db.execute(INSERT_UPLOAD, _upload_row("a", created_at=now))
    assert db.fetch_one("SELECT created_at FROM uploads")["created_at"] == now


def test_big_integers_fit(db: Database):
    big = 2**40
    db.execute(INSERT_UPLOAD, (*_upload_row("a")[:5], big, *_upload_row("a")[6:]))
    assert db.fetch_one("SELECT size_bytes FROM uploads")["size_bytes"] == big
