"""Retention: artifacts and uploads that nothing uses any more are removed once they are old enough.

In use, and so kept whatever their age:
- an artifact named by a shot (keyframe, narration, segment), a story (final video, subtitles) or an
  upload; one named by an unfinished operation (request, shots, result) or by the result of one that
  finished within the artifact retention; and, transitively, any artifact named in the metadata of
  an artifact in use (a final video's segments, a segment's clip, a keyframe's uploaded picture);
- an artifact the artifact store handed out since the oldest unfinished operation began (the
  intermediate files of a running render are named nowhere else until it ends);
- an upload named by an unfinished operation, or by any operation of a story that still exists
  (its music), or whose picture is the source of a shot's keyframe.

An operation's progress events are kept for EVENT_DAYS after they were sent, and for as long as the
operation is unfinished (its row keeps the final state for good).

A record is deleted before its file (``ArtifactStore.expire``), so a crash in between leaves a file
without a record, which a later sweep removes once it is older than the retention.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from typing import Iterable

from loguru import logger

from story2video.storage.artifacts import TEMP_MARKER, ArtifactStore
from story2video.storage.db import Database
from story2video.storage.events import EventRepository
from story2video.util.workdirs import sweep_stale_work_folders

DAY_S = 86400.0
EVENT_DAYS = 7.0
ORPHAN_UPLOAD_GRACE_S = 3600.0  # an upload's file is stored a moment before its record
_KEY = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class RetentionPolicy:
    artifact_days: float  # 0 = keep forever
    upload_days: float  # 0 = keep forever
    interval_s: float


@dataclass
class SweepReport:
    artifacts: int = 0
    uploads: int = 0
    orphan_files: int = 0
    work_folders: int = 0
    events: int = 0
    freed_bytes: int = 0

    def __bool__(self) -> bool:
        return bool(self.artifacts or self.uploads or self.orphan_files or self.work_folders or self.events)


class RetentionSweeper:
    def __init__(
        self,
        db: Database,
        store: ArtifactStore,
        policy: RetentionPolicy,
        unfinished_statuses: tuple[str, ...],
    ):
        self.db = db
        self.store = store
        self.policy = policy
        self.unfinished = unfinished_statuses

    async def run(self) -> None:
        """Sweep now, then every ``interval_s``, until cancelled. A failed sweep is logged and tried again."""
        while True:
            try:
                report = await self.sweep()
                if report:
                    logger.info(
                        "retention: removed {} artifacts, {} uploads, {} files without a record ({:.1f} MiB), {} stale work folders and {} old events",
                        report.artifacts, report.uploads, report.orphan_files, report.freed_bytes / 2**20, report.work_folders, report.events,
                    )
            except Exception:  # noqa: BLE001 - the loop must outlive one bad sweep; the failure is logged in full
                logger.exception("the retention sweep failed; it runs again in {} s", self.policy.interval_s)
            await asyncio.sleep(self.policy.interval_s)

    async def sweep(self) -> SweepReport:
        report = SweepReport()
        now = time.time()
        guard = min(now, await asyncio.to_thread(self._oldest_unfinished, now))
        report.work_folders = await asyncio.to_thread(sweep_stale_work_folders)
        report.events = await asyncio.to_thread(EventRepository(self.db).prune, now - EVENT_DAYS * DAY_S, self.unfinished)
        freed: set[str] = set()
        if self.policy.upload_days > 0:
            freed, report.uploads = await asyncio.to_thread(self._drop_unused_uploads, now - self.policy.upload_days * DAY_S)
        candidates, known = await asyncio.to_thread(self._candidates, now, freed)
        if candidates:
            keep = await asyncio.to_thread(self._in_use, self._results_since(now))
            for key in candidates - keep:
                size = await self.store.expire(key, unused_since=guard)
                if size is not None:
                    report.artifacts += 1
                    report.freed_bytes += size
        if self.policy.artifact_days > 0:
            files, size = await asyncio.to_thread(self._remove_orphan_files, known, now - self.policy.artifact_days * DAY_S)
            report.orphan_files, report.freed_bytes = files, report.freed_bytes + size
        self.store.forget_uses_before(guard)
        return report

    # ------------------------------------------------------------------ uploads

    def _drop_unused_uploads(self, cutoff: float) -> tuple[set[str], int]:
        """Delete old upload records nothing uses; the artifact keys they held."""
        old = self.db.fetch_all("SELECT upload_id, user_id, artifact_key FROM uploads WHERE created_at < ?", (cutoff,))
        if not old:
            return set(), 0
        named = self._named_uploads()
        pictures = self._keyframe_sources()
        freed: set[str] = set()
        dropped = 0
        for row in old:
            if (row["user_id"], row["upload_id"]) in named or row["artifact_key"] in pictures:
                continue
            if self.db.execute("DELETE FROM uploads WHERE upload_id=? AND created_at < ?", (row["upload_id"], cutoff)):
                freed.add(row["artifact_key"])
                dropped += 1
        return freed, dropped

    def _named_uploads(self) -> set[tuple[str, str]]:
        """(user_id, upload_id) named by an unfinished operation or by an operation of an existing story."""
        marks = ", ".join("?" for _ in self.unfinished)
        rows = self.db.fetch_all(
            "SELECT o.user_id, o.request FROM operations o WHERE o.request LIKE '%upload_id%' AND ("
            f"o.status IN ({marks}) OR EXISTS (SELECT 1 FROM stories s WHERE s.user_id=o.user_id AND s.story_id=o.story_id))",
            self.unfinished,
        )
        named = set()
        for row in rows:
            request = json.loads(row["request"])
            for field, value in request.items():
                if field.endswith("upload_id") and isinstance(value, str):
                    named.add((row["user_id"], value))
        return named

    def _keyframe_sources(self) -> set[str]:
        """Artifact keys of uploaded pictures a shot's current keyframe was made from."""
        rows = self.db.fetch_all(
            "SELECT a.meta FROM shots sh JOIN artifacts a ON a.key = sh.image_key WHERE a.meta LIKE '%\"upload\"%'"
        )
        return {source for row in rows if isinstance(source := json.loads(row["meta"]).get("upload"), str)}

    # ------------------------------------------------------------------ artifacts

    def _oldest_unfinished(self, now: float) -> float:
        marks = ", ".join("?" for _ in self.unfinished)
        row = self.db.fetch_one(f"SELECT MIN(created_at) AS oldest FROM operations WHERE status IN ({marks})", self.unfinished)
        return row["oldest"] if row is not None and row["oldest"] is not None else now

    def _results_since(self, now: float) -> float:
        """Finished operations whose results still count as users: those within the artifact retention."""
        return now - self.policy.artifact_days * DAY_S if self.policy.artifact_days > 0 else 0.0

    def _candidates(self, now: float, freed: set[str]) -> tuple[set[str], set[str]]:
        """Artifacts old enough to go (before looking at who uses them), and every recorded key."""
        rows = self.db.fetch_all("SELECT key, kind, created_at FROM artifacts")
        known = {row["key"] for row in rows}
        with_record = {row["artifact_key"] for row in self.db.fetch_all("SELECT artifact_key FROM uploads")}
        candidates = set()
        artifact_cutoff = now - self.policy.artifact_days * DAY_S
        for row in rows:
            if self.policy.artifact_days > 0 and row["created_at"] < artifact_cutoff:
                candidates.add(row["key"])
            elif self.policy.upload_days > 0 and row["kind"] == "upload" and row["key"] not in with_record:
                if row["key"] in freed or row["created_at"] < now - ORPHAN_UPLOAD_GRACE_S:
                    candidates.add(row["key"])  # an upload's file whose record was deleted
        return candidates, known

    def _in_use(self, results_since: float) -> set[str]:
        """Every artifact key something still uses (see the module's docstring)."""
        used: set[str] = set()
        for row in self.db.fetch_all("SELECT image_key, audio_key, video_key FROM shots"):
            used.update(value for value in row if value)
        for row in self.db.fetch_all("SELECT video_key, subtitles_key FROM stories"):
            used.update(value for value in row if value)
        for row in self.db.fetch_all("SELECT reference_key FROM characters WHERE reference_key IS NOT NULL"):
            used.add(row["reference_key"])
        used.update(row["artifact_key"] for row in self.db.fetch_all("SELECT artifact_key FROM uploads"))
        marks = ", ".join("?" for _ in self.unfinished)
        for row in self.db.fetch_all(
            f"SELECT user_id, status, request, shots, result FROM operations WHERE status IN ({marks}) OR updated_at >= ?",
            (*self.unfinished, results_since),
        ):
            used.update(_keys_in(row["result"]))
            if row["status"] in self.unfinished:
                used.update(_keys_in(row["request"], row["shots"]))
                used.update(self._upload_artifacts(row["user_id"], row["request"]))
        return self._with_inputs(used)

    def _upload_artifacts(self, user_id: str, request_json: str) -> set[str]:
        request = json.loads(request_json)
        ids = [value for field, value in request.items() if field.endswith("upload_id") and isinstance(value, str)]
        keys = set()
        for upload_id in ids:
            row = self.db.fetch_one("SELECT artifact_key FROM uploads WHERE user_id=? AND upload_id=?", (user_id, upload_id))
            if row is not None:
                keys.add(row["artifact_key"])
        return keys

    def _with_inputs(self, used: set[str]) -> set[str]:
        """``used`` plus every artifact named in the metadata of one in use, transitively."""
        metas = {row["key"]: row["meta"] for row in self.db.fetch_all("SELECT key, meta FROM artifacts")}
        pending = list(used)
        while pending:
            meta = metas.get(pending.pop())
            for key in _keys_in(meta):
                if key not in used:
                    used.add(key)
                    pending.append(key)
        return used

    def _remove_orphan_files(self, known: set[str], cutoff: float) -> tuple[int, int]:
        """Files under the artifact root with no record, older than ``cutoff`` (a crash between record and file)."""
        removed = size = 0
        for path in self.store.root.glob("*/*"):
            key = path.name.split(".", 1)[0]
            if TEMP_MARKER in path.name or key in known or not path.is_file():
                continue
            stat = path.stat()
            if stat.st_mtime >= cutoff or self.db.fetch_one("SELECT 1 FROM artifacts WHERE key=?", (key,)) is not None:
                continue  # young, or recorded since the sweep began
            path.unlink(missing_ok=True)
            removed, size = removed + 1, size + stat.st_size
        return removed, size


def _keys_in(*texts: str | None) -> Iterable[str]:
    for text in texts:
        if text:
            yield from _KEY.findall(text)
