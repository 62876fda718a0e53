"""Receive a user's file (sent in the body, or fetched from an allowed URL), check it, store it.

The bytes land in a temp file (swept at start-up if the process dies), never past
MAX_UPLOAD_BYTES. Their first bytes decide the format; the whole file is then decoded into its
normalised artifact (see ``normalise``), and only then is the upload recorded. Anything refused
leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

from story2video.config import Settings
from story2video.errors import InvalidRequest, NotFound, PayloadTooLarge, StorageFull, UnsupportedMedia
from story2video.pipeline.cache import artifact_key
from story2video.storage.artifacts import ArtifactStore, Produced
from story2video.storage.records import ArtifactRecord, UploadRecord
from story2video.storage.uploads import UploadRepository
from story2video.uploads.fetch import SafeFetcher, UrlPolicy
from story2video.uploads.formats import ACCEPTED_NAMES, SNIFF_BYTES, UploadFormat, UploadKind, sniff_format
from story2video.uploads.normalise import STORED_EXTENSION, MediaFacts, normalise_audio, normalise_image

INGEST_CONCURRENCY = 2  # decodes at once; more uploads wait their turn
_CHUNK_BYTES = 1 << 16


@dataclass(frozen=True)
class Received:
    path: Path
    size_bytes: int
    source: str
    filename: str


class UploadService:
    def __init__(self, settings: Settings, store: ArtifactStore, repo: UploadRepository, ffmpeg: Path, fetcher: SafeFetcher | None = None):
        self.settings = settings
        self.store = store
        self.repo = repo
        self.ffmpeg = ffmpeg
        self.fetcher = fetcher or SafeFetcher(
            UrlPolicy.from_settings(settings.upload_url_hosts, settings.upload_url_allow_private),
            max_bytes=settings.max_upload_bytes,
            timeout_s=settings.upload_url_timeout_s,
        )
        self._slots = asyncio.Semaphore(INGEST_CONCURRENCY)

    # ------------------------------------------------------------------ in

    async def receive(self, user_id: str, body: AsyncIterator[bytes], filename: str = "") -> UploadRecord:
        temp = self._temp_path()
        with _disk_errors():
            size = await self._write_limited(body, temp)
        return await self._ingest(user_id, Received(temp, size, "upload", filename))

    async def import_url(self, user_id: str, url: str) -> UploadRecord:
        temp = self._temp_path()
        with _disk_errors():
            fetched = await self.fetcher.fetch(url, temp)
        name = urlsplit(fetched.url).path.rsplit("/", 1)[-1][:200]
        return await self._ingest(user_id, Received(temp, fetched.size_bytes, _without_query(fetched.url), name))

    # ------------------------------------------------------------------ reads

    def get(self, user_id: str, upload_id: str) -> UploadRecord:
        upload = self.repo.get(user_id, upload_id)
        if upload is None:
            raise NotFound(f"upload '{upload_id}' does not exist for user '{user_id}'")
        return upload

    def artifact_for(self, user_id: str, upload_id: str, kind: UploadKind, param: str) -> ArtifactRecord:
        """The normalised file of the user's upload, for a request field that names it."""
        upload = self.repo.get(user_id, upload_id)
        record = self.store.get(upload.artifact_key) if upload is not None else None
        if upload is None or record is None:
            raise InvalidRequest(f"{param}: user '{user_id}' has no upload '{upload_id}'", param=param, code="unknown_upload")
        if upload.kind != kind:
            raise InvalidRequest(f"{param}: upload '{upload_id}' is {upload.kind}, not {kind}", param=param)
        return record

    async def delete(self, user_id: str, upload_id: str) -> None:
        upload = self.repo.delete(user_id, upload_id)
        if upload is None:
            raise NotFound(f"upload '{upload_id}' does not exist for user '{user_id}'")
        if not self.repo.artifact_in_use(upload.artifact_key):
            await self.store.discard(upload.artifact_key)

    # ------------------------------------------------------------------ internals

    def _temp_path(self) -> Path:
        return self.store.temp_path(secrets.token_hex(32), "upload")

    async def _write_limited(self, body: AsyncIterator[bytes], dest: Path) -> int:
        limit = self.settings.max_upload_bytes
        size = 0
        try:
            with dest.open("wb") as file:
                async for chunk in body:
                    size += len(chunk)
                    if size > limit:
                        raise PayloadTooLarge(f"the upload is larger than {limit} bytes (MAX_UPLOAD_BYTES)", param="file")
                    await asyncio.to_thread(file.write, chunk)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        if size == 0:
            dest.unlink()
            raise InvalidRequest("the upload is empty: send the file as the request body", param="file", code="invalid_upload")
        return size

    async def _ingest(self, user_id: str, received: Received) -> UploadRecord:
        try:
            head, digest = await asyncio.to_thread(_head_and_sha256, received.path)
            fmt = _format_of(head)
            key = artifact_key("upload", format=fmt.name, sha256=digest, limits=self._limits(fmt))

            async def produce(dest: Path) -> Produced:
                facts = await self._normalise(received.path, dest, fmt)
                meta = {"sha256": digest, "width": facts.width, "height": facts.height}
                return Produced("upload", fmt.name, duration=facts.duration, meta=meta)

            async with self._slots:
                with _disk_errors():
                    record = await self.store.ensure(key, "upload", STORED_EXTENSION[fmt.kind], produce, _exists)
        finally:
            received.path.unlink(missing_ok=True)
        upload = self._record(user_id, received, fmt, record)
        await asyncio.to_thread(self.repo.insert, upload)
        return upload

    def _limits(self, fmt: UploadFormat) -> object:
        """The settings a stored upload passed: a changed limit checks a re-sent file again."""
        return self.settings.max_upload_pixels if fmt.kind == "image" else self.settings.max_upload_audio_s

    async def _normalise(self, source: Path, dest: Path, fmt: UploadFormat) -> MediaFacts:
        if fmt.kind == "image":
            return await normalise_image(self.ffmpeg, source, dest, fmt, self.settings.max_upload_pixels)
        return await normalise_audio(self.ffmpeg, source, dest, fmt, self.settings.max_upload_audio_s)

    def _record(self, user_id: str, received: Received, fmt: UploadFormat, record: ArtifactRecord) -> UploadRecord:
        return UploadRecord(
            upload_id="up_" + secrets.token_hex(12),
            user_id=user_id,
            kind=fmt.kind,
            format=fmt.name,
            artifact_key=record.key,
            size_bytes=received.size_bytes,
            width=record.meta.get("width"),
            height=record.meta.get("height"),
            duration=record.duration,
            source=received.source,
            filename=received.filename,
            created_at=time.time(),
        )


def _head_and_sha256(path: Path) -> tuple[bytes, str]:
    """The file's first SNIFF_BYTES bytes and its SHA-256, in one read."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        head = file.read(SNIFF_BYTES)
        digest.update(head)
        while chunk := file.read(_CHUNK_BYTES):
            digest.update(chunk)
    return head, digest.hexdigest()


def _format_of(head: bytes) -> UploadFormat:
    fmt = sniff_format(head)
    if fmt is None:
        hint = "; send the file itself as the body, not a multipart form" if head.startswith(b"--") else ""
        raise UnsupportedMedia(f"the file is none of the accepted formats ({ACCEPTED_NAMES}){hint}", param="file")
    return fmt


async def _exists(path: Path) -> None:
    """The normaliser decoded and wrote the file itself; nothing more to check."""
    if path.stat().st_size == 0:
        raise InvalidRequest("the upload decoded to nothing", param="file", code="invalid_upload")


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


@contextmanager
def _disk_errors() -> Iterator[None]:
    try:
        yield
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        raise StorageFull("the disk is full: the upload could not be stored") from error
