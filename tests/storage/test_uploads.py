"""Upload records on both databases."""

from __future__ import annotations

import pytest

from story2video.storage.db import Database, DuplicateKey
from story2video.storage.records import UploadRecord
from story2video.storage.uploads import UploadRepository


def _upload(upload_id: str, created_at: float, key: str = "k") -> UploadRecord:
    return UploadRecord(upload_id, "u", "image", "png", key, 100, 64, 48, None, "upload", "a.png", created_at)


def test_insert_get_list_delete(db: Database):
    uploads = UploadRepository(db)
    uploads.insert(_upload("up-1", 1.0))
    uploads.insert(_upload("up-2", 2.0, key="other"))
    with pytest.raises(DuplicateKey):
        uploads.insert(_upload("up-1", 3.0))
    assert uploads.get("u", "up-1") == _upload("up-1", 1.0)
    assert uploads.get("someone-else", "up-1") is None
    assert [upload.upload_id for upload in uploads.list("u", limit=10, offset=0)] == ["up-2", "up-1"]
    assert [upload.upload_id for upload in uploads.list("u", limit=1, offset=1)] == ["up-1"]
    assert uploads.artifact_in_use("k")
    assert uploads.delete("u", "up-1") == _upload("up-1", 1.0)
    assert uploads.delete("u", "up-1") is None
    assert not uploads.artifact_in_use("k")
