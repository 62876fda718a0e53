from __future__ import annotations

import asyncio
import os
import time

import pytest

from story2video.errors import InvalidArtifact
from story2video.storage.artifacts import ArtifactStore, Produced
from story2video.storage.db import Database


@pytest.fixture
def store(tmp_path, db: Database):
    return ArtifactStore(tmp_path / "artifacts", db)


async def _accept(_path):
    return None


def test_produces_once_and_reuses(store):
    calls = []

    async def producer(dest):
        calls.append(dest)
        dest.write_bytes(b"data")
        return Produced("preview", "m", duration=1.5, meta={"a": 1})

    async def main():
        return await asyncio.gather(*(store.ensure("ab" * 32, "clip", "mp4", producer, _accept) for _ in range(5)))

    records = asyncio.run(main())
    assert len(calls) == 1
    assert {r.rel_path for r in records} == {f"ab/{'ab' * 32}.mp4"}
    assert store.path_of(records[0]).read_bytes() == b"data"
    assert store.get("ab" * 32).meta == {"a": 1}


def test_invalid_output_is_never_stored(store):
    async def producer(dest):
        dest.write_bytes(b"garbage")
        return Produced("preview", "m")

    async def reject(_path):
        raise InvalidArtifact("not a PNG")

    with pytest.raises(InvalidArtifact):
        asyncio.run(store.ensure("cd" * 32, "keyframe", "png", producer, reject))
    assert store.get("cd" * 32) is None
    assert [p for p in store.root.rglob("*") if p.is_file()] == []


def test_failed_producer_leaves_no_temp_file(store):
    async def producer(dest):
        dest.write_bytes(b"half")
        raise RuntimeError("backend died")

    with pytest.raises(RuntimeError):
        asyncio.run(store.ensure("ef" * 32, "keyframe", "png", producer, _accept))
    assert [p for p in store.root.rglob("*") if p.is_file()] == []


def test_record_without_file_is_produced_again(store):
    async def producer(dest):
        dest.write_bytes(b"v")
        return Produced("preview", "m")

    record = asyncio.run(store.ensure("12" * 32, "keyframe", "png", producer, _accept))
    store.path_of(record).unlink()
    assert store.get("12" * 32) is None
    again = asyncio.run(store.ensure("12" * 32, "keyframe", "png", producer, _accept))
    assert store.path_of(again).is_file()


def test_storing_a_key_again_replaces_its_record(store):
    """A record stored again (e.g. published late) replaces the old one, on both databases."""
    key = "34" * 32

    async def producer(dest):
        dest.write_bytes(b"v")
        return Produced("preview", "m", meta={"n": 1})

    record = asyncio.run(store.ensure(key, "keyframe", "png", producer, _accept))
    record.meta["n"] = 2
    store._insert(record)
    assert store.get(key).meta == {"n": 2}
    assert store.db.fetch_one("SELECT COUNT(*) AS n FROM artifacts")["n"] == 1


def test_sweep_removes_only_temp_files(store):
    (store.root / "ab").mkdir(parents=True)
    (store.root / "ab" / "x.tmp.1234.mp4").write_bytes(b"partial")
    (store.root / "ab" / "keep.mp4").write_bytes(b"done")
    assert store.sweep_temp_files() == 1
    assert [p.name for p in store.root.rglob("*.mp4")] == ["keep.mp4"]


def test_a_shared_folder_sweep_leaves_temp_files_still_being_written(store):
    (store.root / "ab").mkdir(parents=True)
    old, fresh = store.root / "ab" / "x.tmp.1111.mp4", store.root / "ab" / "y.tmp.2222.mp4"
    old.write_bytes(b"left by a killed worker")
    fresh.write_bytes(b"another worker is writing this")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert store.sweep_temp_files(older_than=time.time() - 3600) == 1
    assert not old.exists() and fresh.exists()
