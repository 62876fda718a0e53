"""Users' uploads: who sent which file. The files themselves are artifacts."""

from __future__ import annotations

from dataclasses import astuple, fields

from story2video.storage.db import Database
from story2video.storage.records import UploadRecord

_COLUMNS = [f.name for f in fields(UploadRecord)]


class UploadRepository:
    def __init__(self, db: Database):
        self.db = db

    def insert(self, upload: UploadRecord) -> None:
        placeholders = ", ".join("?" for _ in _COLUMNS)
        self.db.execute(f"INSERT INTO uploads ({', '.join(_COLUMNS)}) VALUES ({placeholders})", astuple(upload))

    def get(self, user_id: str, upload_id: str) -> UploadRecord | None:
        row = self.db.fetch_one("SELECT * FROM uploads WHERE user_id=? AND upload_id=?", (user_id, upload_id))
        return UploadRecord(**dict(row)) if row is not None else None

    def list(self, user_id: str, limit: int, offset: int) -> list[UploadRecord]:
        rows = self.db.fetch_all(
            "SELECT * FROM uploads WHERE user_id=? ORDER BY created_at DESC, upload_id LIMIT ? OFFSET ?", (user_id, limit, offset)
        )
        return [UploadRecord(**dict(row)) for row in rows]

    def delete(self, user_id: str, upload_id: str) -> UploadRecord | None:
        """Remove the upload; the removed record, or None if there was none."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT * FROM uploads WHERE user_id=? AND upload_id=?", (user_id, upload_id)).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM uploads WHERE upload_id=?", (upload_id,))
        return UploadRecord(**dict(row))

    def artifact_in_use(self, artifact_key: str) -> bool:
        return self.db.fetch_one("SELECT 1 FROM uploads WHERE artifact_key=? LIMIT 1", (artifact_key,)) is not None
