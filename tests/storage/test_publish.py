"""The artifact store's publishing seam: which kinds are published, what is recorded, and that a
failed upload leaves no record behind (nothing is served locally in its place)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from story2video.errors import BackendError
from story2video.pipeline.deps import artifact_url, public_url
from story2video.storage.artifacts import ArtifactStore, Produced
from story2video.storage.db import Database
from story2video.storage.records import ArtifactRecord


class RecordingPublisher:
    name = "test-bucket"
    kinds = frozenset({"keyframe", "video"})

    def __init__(self, fail: bool = False):
        self.fail = fail
        self.published: list[tuple[str, bytes]] = []

    async def publish(self, record: ArtifactRecord, path: Path) -> dict:
        if self.fail:
            raise BackendError("upload to test-bucket failed", backend="test")
        self.published.append((record.key, path.read_bytes()))
        return {"object": f"objects/{record.rel_path}"}

    def url(self, remote: dict) -> str:
        return f"https://bucket.example/{remote['object']}?signed=now"


async def _accept(_path: Path) -> None:
    return None


def make(tmp_path: Path, publisher: RecordingPublisher) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts", Database(tmp_path / "db.sqlite3"), publisher=publisher)


def produce(store: ArtifactStore, key: str, kind: str, ext: str) -> ArtifactRecord:
    async def producer(dest: Path) -> Produced:
        dest.write_bytes(b"bytes of " + kind.encode())
        return Produced("test", "m", meta={"prompt": "p"})

    return asyncio.run(store.ensure(key, kind, ext, producer, _accept))


def test_published_kinds_record_their_remote_and_link_to_it(tmp_path):
    publisher = RecordingPublisher()
    store = make(tmp_path, publisher)
    record = produce(store, "ab" * 32, "keyframe", "png")
    assert publisher.published == [("ab" * 32, b"bytes of keyframe")]
    stored = store.get("ab" * 32)
    assert stored.meta == {"prompt": "p", "remote": {"object": f"objects/ab/{'ab' * 32}.png"}}
    assert public_url(store, stored) == f"https://bucket.example/objects/ab/{'ab' * 32}.png?signed=now"
    assert artifact_url(record) == f"/api/v1/artifacts/{'ab' * 32}.png"


def test_other_kinds_stay_local(tmp_path):
    publisher = RecordingPublisher()
    store = make(tmp_path, publisher)
    record = produce(store, "cd" * 32, "narration", "wav")
    assert publisher.published == [] and "remote" not in record.meta
    assert public_url(store, record) == artifact_url(record)


def test_a_failed_upload_raises_and_records_nothing(tmp_path):
    store = make(tmp_path, RecordingPublisher(fail=True))
    with pytest.raises(BackendError, match="test-bucket"):
        produce(store, "ef" * 32, "video", "mp4")
    assert store.get("ef" * 32) is None


def test_an_artifact_made_before_publishing_is_published_on_its_next_use(tmp_path):
    plain = ArtifactStore(tmp_path / "artifacts", Database(tmp_path / "db.sqlite3"))
    produce(plain, "12" * 32, "video", "mp4")
    publisher = RecordingPublisher()
    store = make(tmp_path, publisher)
    record = produce(store, "12" * 32, "video", "mp4")
    assert publisher.published == [("12" * 32, b"bytes of video")]
    assert store.get("12" * 32).meta["remote"] == record.meta["remote"]
    produce(store, "12" * 32, "video", "mp4")
    assert len(publisher.published) == 1
