"""Content-addressed artifact files: produced into a temp file, validated, then renamed into place.

A file is only ever visible under its final name once complete and validated, and it is only
served once its record exists, so a crash can leave at most an orphaned temp file (swept on start).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

from loguru import logger

from story2video.storage.db import Database
from story2video.storage.publish import REMOTE_META, ArtifactPublisher
from story2video.storage.records import ArtifactRecord
from story2video.util.locks import KeyedLocks

MEDIA_TYPES = {
    "png": "image/png",
    "wav": "audio/wav",
    "m4a": "audio/mp4",
    "mp4": "video/mp4",
    "srt": "application/x-subrip",
    "txt": "text/plain; charset=utf-8",
    "json": "application/json",
}
TEMP_MARKER = ".tmp."


@dataclass
class Produced:
    """What a producer reports about the file it wrote."""

    backend: str
    model: str
    duration: float | None = None
    meta: dict = field(default_factory=dict)


Producer = Callable[[Path], Awaitable[Produced]]
Validator = Callable[[Path], Awaitable[None]]


class ArtifactStore:
    def __init__(self, root: Path, db: Database, publisher: ArtifactPublisher | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.db = db
        self.publisher = publisher
        self._locks = KeyedLocks()
        self._last_used: dict[str, float] = {}  # key -> when it was last handed out or stored (for retention)
        self._uses_guard = threading.Lock()

    def sweep_temp_files(self, older_than: float | None = None) -> int:
        """Remove unfinished temp files: all of them, or those last written before ``older_than`` (where
        other live processes share the folder, a temp file older than the longest step is nobody's)."""
        removed = 0
        for path in self.root.rglob(f"*{TEMP_MARKER}*"):
            try:
                if older_than is not None and path.stat().st_mtime >= older_than:
                    continue
                path.unlink()
            except FileNotFoundError:  # finished or removed by its owner meanwhile
                continue
            removed += 1
        return removed

    def get(self, key: str) -> ArtifactRecord | None:
        """The record for ``key`` if its file is complete on disk."""
        row = self.db.fetch_one("SELECT * FROM artifacts WHERE key=?", (key,))
        if row is None:
            return None
        record = ArtifactRecord(**{**dict(row), "meta": json.loads(row["meta"])})
        if not self.path_of(record).is_file():
            logger.warning("artifact {} lost its file {}; it will be produced again", key, record.rel_path)
            self.db.execute("DELETE FROM artifacts WHERE key=?", (key,))
            return None
        self._used(key)
        return record

    def path_of(self, record: ArtifactRecord) -> Path:
        return self.root / record.rel_path

    def published_url(self, record: ArtifactRecord) -> str | None:
        """A fresh public link (e.g. presigned) when the artifact was published, else None."""
        remote = record.meta.get(REMOTE_META)
        if remote is None or self.publisher is None:
            return None
        return self.publisher.url(remote)

    async def ensure(self, key: str, kind: str, ext: str, producer: Producer, validator: Validator) -> ArtifactRecord:
        """Return the artifact for ``key``, producing it once if it does not exist yet."""
        async with self._locks.hold(key):
            existing = self.get(key)
            if existing is not None:
                return await self._published_late(existing)
            return await self._produce(key, kind, ext, producer, validator)

    async def annotate(self, key: str, **meta: object) -> ArtifactRecord:
        """Add ``meta`` to an existing artifact's record (what was decided about it after it was made)."""
        async with self._locks.hold(key):
            record = self.get(key)
            if record is None:
                raise FileNotFoundError(f"artifact {key} is gone; nothing to annotate")
            record.meta.update(meta)
            self._insert(record)
            return record

    async def discard(self, key: str) -> None:
        """Forget an artifact and delete its file (e.g. the upload it held was deleted)."""
        async with self._locks.hold(key):
            record = self.get(key)
            if record is None:
                return
            self.db.execute("DELETE FROM artifacts WHERE key=?", (key,))
            self.path_of(record).unlink(missing_ok=True)

    async def expire(self, key: str, unused_since: float) -> int | None:
        """Remove an artifact not handed out since ``unused_since``: its record, then its file.
        Returns the bytes freed, or None when it was kept (in use since, or already gone)."""
        async with self._locks.hold(key):
            with self._uses_guard:
                if self._last_used.get(key, 0.0) >= unused_since:
                    return None
            row = self.db.fetch_one("SELECT rel_path, size_bytes FROM artifacts WHERE key=?", (key,))
            if row is None:
                return None
            self.db.execute("DELETE FROM artifacts WHERE key=?", (key,))
            (self.root / row["rel_path"]).unlink(missing_ok=True)
            return int(row["size_bytes"])

    def forget_uses_before(self, moment: float) -> None:
        """Drop use times older than ``moment``: no later ``expire`` asks about anything that old."""
        with self._uses_guard:
            for key in [key for key, used in self._last_used.items() if used < moment]:
                del self._last_used[key]

    def _used(self, key: str) -> None:
        with self._uses_guard:
            self._last_used[key] = time.time()

    def temp_path(self, key: str, ext: str) -> Path:
        """A fresh temp file name beside the artifact's final place (same filesystem: atomic rename)."""
        folder = self.root / key[:2]
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{key}{TEMP_MARKER}{uuid.uuid4().hex[:8]}.{ext}"

    def producing(self, key: str) -> AbstractAsyncContextManager[None]:
        """Held while ``key`` is made outside ``ensure`` (then stored with ``adopt``): two makers of one
        artifact in this process take turns, and the second finds the first one's result."""
        return self._locks.hold(key)

    async def adopt(self, key: str, kind: str, temp: Path, produced: Produced, validator: Validator) -> ArtifactRecord:
        """Validate a finished temp file and move it into place under ``key``; the temp file is consumed."""
        ext = temp.suffix.lstrip(".")
        rel_path = f"{key[:2]}/{key}.{ext}"
        try:
            if not temp.is_file():
                raise FileNotFoundError(f"the {kind} producer wrote no file")
            await validator(temp)
            _fsync(temp)
            os.replace(temp, self.root / rel_path)
        finally:
            temp.unlink(missing_ok=True)
        record = ArtifactRecord(
            key=key,
            kind=kind,
            rel_path=rel_path,
            media_type=MEDIA_TYPES.get(ext, "application/octet-stream"),
            backend=produced.backend,
            model=produced.model,
            duration=produced.duration,
            size_bytes=(self.root / rel_path).stat().st_size,
            meta=dict(produced.meta),
            created_at=time.time(),
        )
        await self._publish(record)
        self._insert(record)
        return record

    async def _publish(self, record: ArtifactRecord) -> None:
        """Upload a published kind before it is recorded: a failed upload fails the step, loudly."""
        if self.publisher is None or record.kind not in self.publisher.kinds:
            return
        record.meta[REMOTE_META] = await self.publisher.publish(record, self.path_of(record))
        logger.info("artifact {} ({}) published to {}", record.key[:12], record.kind, self.publisher.name)

    async def _published_late(self, record: ArtifactRecord) -> ArtifactRecord:
        """An artifact made before publishing was configured is published when it is next used."""
        if REMOTE_META in record.meta:
            return record
        await self._publish(record)
        if REMOTE_META in record.meta:
            self._insert(record)
        return record

    async def _produce(self, key: str, kind: str, ext: str, producer: Producer, validator: Validator) -> ArtifactRecord:
        temp = self.temp_path(key, ext)
        try:
            produced = await producer(temp)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return await self.adopt(key, kind, temp, produced, validator)

    def _insert(self, record: ArtifactRecord) -> None:
        self.db.execute(
            "INSERT INTO artifacts (key, kind, rel_path, media_type, backend, model, duration, size_bytes, meta, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
            " kind=excluded.kind, rel_path=excluded.rel_path, media_type=excluded.media_type, backend=excluded.backend,"
            " model=excluded.model, duration=excluded.duration, size_bytes=excluded.size_bytes, meta=excluded.meta,"
            " created_at=excluded.created_at",
            (
                record.key,
                record.kind,
                record.rel_path,
                record.media_type,
                record.backend,
                record.model,
                record.duration,
                record.size_bytes,
                json.dumps(record.meta, ensure_ascii=False),
                record.created_at,
            ),
        )
        self._used(record.key)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
