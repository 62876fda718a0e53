"""Retention: what nothing uses goes once old enough; what a story, shot, upload or unfinished
operation uses stays whatever its age; record and file go together."""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from pathlib import Path

import pytest

from app_api import build_providers
from story2video.jobs.states import UNFINISHED_STATUSES
from story2video.media.ffmpeg import locate_ffmpeg, run_ffmpeg
from story2video.providers.base import BackendStatus, ClipFile
from story2video.storage.artifacts import ArtifactStore, Produced
from story2video.storage.db import Database
from story2video.storage.events import EventRepository
from story2video.storage.operations import OperationRepository
from story2video.storage.records import OperationRecord, ShotRecord, StoryRecord, UploadRecord
from story2video.storage.retention import DAY_S, RetentionPolicy, RetentionSweeper
from story2video.storage.stories import StoryRepository
from story2video.storage.uploads import UploadRepository
from tests.conftest import create_body, small_settings

USER = "u-1"


class World:
    """A store and its repositories, with helpers that make old things."""

    def __init__(self, root: Path, db: Database, artifact_days: float = 30, upload_days: float = 90):
        self.db = db
        self.store = ArtifactStore(root / "artifacts", self.db)
        self.stories = StoryRepository(self.db)
        self.operations = OperationRepository(self.db)
        self.uploads = UploadRepository(self.db)
        self.sweeper = RetentionSweeper(self.db, self.store, RetentionPolicy(artifact_days, upload_days, 3600), UNFINISHED_STATUSES)

    def artifact(self, kind: str = "keyframe", days_old: float = 40, meta: dict | None = None, ext: str = "png") -> str:
        key = secrets.token_hex(32)

        async def produce(dest: Path) -> Produced:
            dest.write_bytes(b"x" * 100)
            return Produced("preview", "m", meta=meta or {})

        async def accept(_path: Path) -> None:
            return None

        asyncio.run(self.store.ensure(key, kind, ext, produce, accept))
        self.age(key, days_old)
        return key

    def age(self, key: str, days_old: float) -> None:
        then = time.time() - days_old * DAY_S
        self.db.execute("UPDATE artifacts SET created_at=? WHERE key=?", (then, key))
        os.utime(self.path(key), (then, then))

    def path(self, key: str) -> Path:
        return next(self.store.root.glob(f"{key[:2]}/{key}.*"))

    def exists(self, key: str) -> bool:
        has_record = self.db.fetch_one("SELECT 1 FROM artifacts WHERE key=?", (key,)) is not None
        has_file = any(self.store.root.glob(f"{key[:2]}/{key}.*"))
        assert has_record == has_file, f"{key[:8]}: record {has_record}, file {has_file}"
        return has_record

    def story(self, story_id: str = "s-1", video: str | None = None, subtitles: str | None = None, **shot_keys: str) -> None:
        story = StoryRecord(USER, story_id, "name", "script", "style", "16:9", 720, video_key=video, subtitles_key=subtitles)
        shot = ShotRecord(USER, story_id, "shot_01", 1, "s", "d", "c", "n", "t", "style", 7, **shot_keys)
        self.stories.replace_story(story, [shot])

    def operation(self, operation_id: str, status: str, story_id: str = "s-1", request: dict | None = None, **fields) -> None:
        record = OperationRecord(
            operation_id=operation_id,
            kind="render",
            user_id=USER,
            story_id=story_id,
            request_hash="h",
            request={"operation_id": operation_id, **(request or {})},
            status=status,
            stage="shots",
            progress=0.5,
            **fields,
        )
        self.operations.insert(record)

    def upload(self, upload_id: str, days_old: float, kind: str = "image") -> str:
        key = self.artifact("upload", days_old=days_old, ext="png" if kind == "image" else "m4a")
        self.uploads.insert(
            UploadRecord(upload_id, USER, kind, "png", key, 100, 64, 64, None, "upload", "a.png", created_at=time.time() - days_old * DAY_S)
        )
        return key

    def has_upload(self, upload_id: str) -> bool:
        return self.uploads.get(USER, upload_id) is not None

    def sweep(self):
        return asyncio.run(self.sweeper.sweep())


@pytest.fixture(autouse=True)
def own_tmpdir(tmp_path, monkeypatch):
    """Each sweep also sweeps the work folders' parent: this test's own, not the machine's."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


@pytest.fixture
def world(tmp_path, db: Database) -> World:
    return World(tmp_path, db)


def test_an_old_artifact_nothing_uses_goes_and_used_ones_of_the_same_age_stay(world):
    unused, young = world.artifact(), world.artifact(days_old=1)
    image, audio, segment = world.artifact(), world.artifact("narration", ext="wav"), world.artifact("segment", ext="mp4")
    video, srt = world.artifact("video", ext="mp4"), world.artifact("subtitles", ext="srt")
    world.story(video=video, subtitles=srt, image_key=image, audio_key=audio, video_key=segment)
    freed = world.path(unused).stat().st_size

    report = world.sweep()

    assert not world.exists(unused)
    assert (report.artifacts, report.freed_bytes) == (1, freed)
    assert all(world.exists(key) for key in (young, image, audio, segment, video, srt))


def test_what_a_kept_artifact_was_made_from_is_kept_too(world):
    clip = world.artifact("clip", ext="mp4")
    segment = world.artifact("segment", meta={"shot_id": "shot_01", "clip": clip}, ext="mp4")
    video = world.artifact("video", meta={"segments": [segment]}, ext="mp4")
    old_segment = world.artifact("segment", ext="mp4")
    old_video = world.artifact("video", meta={"segments": [old_segment, segment]}, ext="mp4")  # an earlier render
    world.story(video=video)

    world.sweep()

    assert all(world.exists(key) for key in (video, segment, clip))
    assert not world.exists(old_video) and not world.exists(old_segment)


def test_the_files_of_a_running_operation_are_kept_until_it_ends(world):
    world.story()
    named, handed_out, untouched = world.artifact("segment", ext="mp4"), world.artifact("narration", ext="wav"), world.artifact()
    world.operation("op-running", "Running", shots={"shot_01": {"state": "done", "video_url": f"/artifacts/{named}.mp4"}})
    assert world.store.get(handed_out) is not None  # the render took a cached narration: named nowhere yet

    world.sweep()
    assert world.exists(named) and world.exists(handed_out)
    assert not world.exists(untouched)

    world.db.execute("UPDATE operations SET status='Failed'")  # it ended without saving them anywhere
    world.sweep()
    assert not world.exists(named) and not world.exists(handed_out)


def test_a_recent_operation_result_keeps_its_files_and_an_old_one_does_not(world):
    recent, old = world.artifact("video", ext="mp4"), world.artifact("video", ext="mp4")
    world.operation("op-recent", "Success", result={"video_url": f"http://h/artifacts/{recent}.mp4"})
    world.operation("op-old", "Success", result={"video_url": f"http://h/artifacts/{old}.mp4"})
    world.db.execute("UPDATE operations SET updated_at=? WHERE operation_id='op-old'", (time.time() - 40 * DAY_S,))

    world.sweep()

    assert world.exists(recent) and not world.exists(old)


def test_old_uploads_stay_while_a_story_or_an_unfinished_operation_uses_them(world):
    picture = world.upload("up_picture", 100)
    keyframe = world.artifact(meta={"upload": picture})
    music = world.upload("up_music", 100, kind="audio")
    queued = world.upload("up_queued", 100)
    unused, young = world.upload("up_unused", 100), world.upload("up_young", 10)
    world.story(image_key=keyframe)
    world.operation("op-render", "Success", request={"music_upload_id": "up_music"})
    world.operation("op-next", "Queued", story_id="s-other", request={"image_upload_id": "up_queued"})

    report = world.sweep()

    assert report.uploads == 1 and not world.has_upload("up_unused") and not world.exists(unused)
    for upload_id, key in (("up_picture", picture), ("up_music", music), ("up_queued", queued), ("up_young", young)):
        assert world.has_upload(upload_id) and world.exists(key), upload_id

    world.stories.delete_story(USER, "s-1")  # nothing uses the picture or the music any more
    world.sweep()
    assert not world.has_upload("up_picture") and not world.exists(picture) and not world.exists(keyframe)
    assert not world.has_upload("up_music") and not world.exists(music)
    assert world.has_upload("up_queued")


def test_an_upload_file_shared_by_two_records_stays_with_the_one_left(world):
    key = world.upload("up_a", 100)
    world.uploads.insert(UploadRecord("up_b", USER, "image", "png", key, 100, 64, 64, None, "upload", "b.png", created_at=time.time()))

    world.sweep()

    assert not world.has_upload("up_a") and world.has_upload("up_b") and world.exists(key)


def test_a_file_left_without_its_record_is_removed_once_old(world):
    orphan, young = world.artifact(), world.artifact()
    world.age(young, 1)
    world.db.execute("DELETE FROM artifacts WHERE key IN (?, ?)", (orphan, young))  # a crash between record and file
    temp = world.store.temp_path(secrets.token_hex(32), "mp4")
    temp.write_bytes(b"half")  # a temp file, however old, is the start-up sweep's business only
    os.utime(temp, (time.time() - 40 * DAY_S,) * 2)

    report = world.sweep()

    assert report.orphan_files == 1
    assert not any(world.store.root.glob(f"*/{orphan}.*"))
    assert any(world.store.root.glob(f"*/{young}.*")) and temp.exists()


def test_zero_days_keeps_everything(tmp_path, db: Database):
    world = World(tmp_path, db, artifact_days=0, upload_days=0)
    old = world.artifact(days_old=10_000)
    world.upload("up_old", 10_000)

    report = world.sweep()
    assert (report.artifacts, report.uploads, report.orphan_files) == (0, 0, 0)
    assert world.exists(old) and world.has_upload("up_old")


def test_an_artifact_handed_out_while_the_sweep_runs_is_kept(world):
    """The cache hit of an operation that starts during the sweep wins: its file is still there to use."""
    key = world.artifact()

    async def race() -> bool:
        sweeping = asyncio.create_task(world.sweeper.sweep())
        await asyncio.sleep(0)  # the sweep has begun

        async def produce(dest: Path) -> Produced:
            raise AssertionError("a cache hit produces nothing")

        async def accept(_path: Path) -> None:
            return None

        record = await world.store.ensure(key, "keyframe", "png", produce, accept)
        await sweeping
        return world.store.path_of(record).is_file()

    assert asyncio.run(race())
    assert world.exists(key)


def test_any_request_field_naming_an_upload_counts(world):
    world.upload("up_voice", 100, kind="audio")
    world.story()
    world.operation("op-voice", "Success", request={"voice_upload_id": "up_voice"})

    world.sweep()

    assert world.has_upload("up_voice")


class FileClips:
    """An image-to-video backend that writes a real clip file (the preview backend's clips are moves, not files)."""

    backend, model = "fake-i2v", "testsrc"

    async def animate(self, request, dest, ctx):
        size = f"{request.width}x{request.height}"
        args = ["-f", "lavfi", "-i", f"testsrc=size={size}:rate={request.fps}:duration=1", "-pix_fmt", "yuv420p", "-f", "mp4", str(dest)]
        await run_ffmpeg(locate_ffmpeg(), args)
        return ClipFile(path=dest, duration=1.0)

    async def status(self):
        return BackendStatus("clips", self.backend, self.model, ready=True)


def test_a_story_rendered_long_ago_renders_again_from_what_the_sweep_kept(make_client, tmp_path):
    """End to end: render, change a shot, render again; age everything past the limit and sweep. What
    the earlier render alone used goes; the story renders again without making anything anew."""
    providers = build_providers(small_settings(tmp_path))
    providers.video = FileClips()
    client = make_client(providers=providers)
    assert client.post("/api/v1/storyboard/create", json=create_body()).status_code == 200
    render = {"operation_id": "op-render", "story_id": "story-001", "user_id": "u-001"}
    assert client.post("/api/v1/video/render", json=render).status_code == 200
    change = {"operation_id": "op-change", "story_id": "story-001", "user_id": "u-001", "shot_id": "shot_01", "detail": "a new detail"}
    assert client.post("/api/v1/shot/regenerate", json=change).status_code == 200
    assert client.post("/api/v1/video/render", json={**render, "operation_id": "op-render-2"}).status_code == 200
    store = client.app.state.engine.deps.store
    store.db.execute("UPDATE artifacts SET created_at = created_at - ?", (40 * DAY_S,))
    store.db.execute("UPDATE operations SET updated_at = updated_at - ?", (40 * DAY_S,))
    kinds_before = dict(store.db.fetch_all("SELECT kind, COUNT(*) FROM artifacts GROUP BY kind"))

    sweeper = RetentionSweeper(store.db, store, RetentionPolicy(30, 90, 3600), UNFINISHED_STATUSES)
    asyncio.run(sweeper.sweep())
    kinds_after = dict(store.db.fetch_all("SELECT kind, COUNT(*) FROM artifacts GROUP BY kind"))
    kept = dict(store.db.fetch_all("SELECT key, created_at FROM artifacts"))
    assert client.post("/api/v1/video/render", json={**render, "operation_id": "op-render-3"}).status_code == 200

    assert kinds_after["video"] == kinds_before["video"] - 1  # the first render's video went
    assert kinds_after["clip"] == kinds_before["clip"] - 1  # and shot_01's first clip; the others stay with their segments
    assert dict(store.db.fetch_all("SELECT key, created_at FROM artifacts")) == kept  # every input of the story was still there


def test_old_events_go_unless_their_operation_is_unfinished(world):
    events = EventRepository(world.db)
    world.operation("done", "Success")
    world.operation("running", "Running")
    old = [events.append(USER, op, "operation.progress", {"progress": 0.5}) for op in ("done", "running")]
    recent = events.append(USER, "done", "operation.succeeded", {})
    world.db.execute("UPDATE operation_events SET created_at=? WHERE event_id IN (?, ?)", (time.time() - 8 * DAY_S, *old))
    assert world.sweep().events == 1
    assert [e.event_id for e in events.since(USER, "done", 0)] == [recent]
    assert [e.event_id for e in events.since(USER, "running", 0)] == [old[1]]
