"""A story's files: the list, one file, a zip of one kind or all, streamed with a bounded memory peak."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import tracemalloc
import zipfile
from pathlib import Path

import httpx
import pytest

from story2video.storage.artifacts import Produced
from story2video.storage.records import CharacterRecord, ShotRecord, StoryRecord
from tests.conftest import create_body
from tests.fakes.asgi_thread import ServerThread

USER = {"user_id": "u-001"}
RENDER = {"operation_id": "op-render", "story_id": "story-001", "user_id": "u-001", "crossfade": 0.25}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """One story created with 3 shots and rendered (preview backends, real FFmpeg), shared by the tests here."""
    from fastapi.testclient import TestClient

    from app_api import build_providers
    from story2video.app import create_app
    from tests.conftest import small_settings

    settings = small_settings(tmp_path_factory.mktemp("files"))
    with TestClient(create_app(settings, build_providers(settings))) as client:
        created = client.post("/api/v1/storyboard/create", json=create_body(shot_count=3))
        assert created.status_code == 200, created.text
        response = client.post("/api/v1/video/render", json=RENDER)
        assert response.status_code == 200, response.text
        yield client


def _listing(client, **params) -> list[dict]:
    response = client.get("/api/v1/stories/story-001/files", params={**USER, **params})
    assert response.status_code == 200, response.text
    return response.json()


def _bytes_of(client, entry: dict) -> bytes:
    response = client.get("/api/v1/stories/story-001/files/download", params={**USER, "name": entry["name"]})
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    return response.content


def test_the_list_names_every_file_with_kind_shot_and_size(rendered):
    client = rendered
    files = _listing(client)
    story = client.get("/api/v1/stories/story-001", params=USER).json()
    kinds = [entry["kind"] for entry in files]
    assert kinds.count("storyboard") == kinds.count("video") == kinds.count("subtitles") == 1
    for kind in ("keyframe", "narration", "segment"):
        assert sorted(entry["shot_id"] for entry in files if entry["kind"] == kind) == sorted(shot["id"] for shot in story["shots"])
    assert kinds.count("reference") == sum(1 for character in story["cast"] if character["reference_url"])
    assert len({entry["name"] for entry in files}) == len(files)
    for entry in files:
        assert entry["size_bytes"] == len(_bytes_of(client, entry)), entry["name"]
    video = next(entry for entry in files if entry["kind"] == "video")
    assert video["url"].endswith(story["artifacts"]["video"]["local_url"])
    storyboard = json.loads(_bytes_of(client, next(entry for entry in files if entry["kind"] == "storyboard")))
    assert [shot["id"] for shot in storyboard["shots"]] == [shot["id"] for shot in story["shots"]]


def test_the_zip_of_all_holds_every_file_byte_for_byte(rendered):
    client = rendered
    files = _listing(client)
    response = client.get("/api/v1/stories/story-001/files/download", params=USER)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert int(response.headers["content-length"]) == len(response.content)
    assert 'filename="story-001.zip"' in response.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == sorted(entry["name"] for entry in files)
        for entry in files:
            assert archive.read(entry["name"]) == _bytes_of(client, entry), entry["name"]


def test_a_zip_of_one_kind_and_one_file_alone(rendered):
    client = rendered
    response = client.get("/api/v1/stories/story-001/files/download", params={**USER, "kind": "keyframe"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == sorted(entry["name"] for entry in _listing(client, kind="keyframe"))
    # One file of that kind: the file itself, as seed 001 does.
    video = client.get("/api/v1/stories/story-001/files/download", params={**USER, "kind": "video"})
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp"


def test_unknown_files_kinds_and_stories_are_refused(rendered):
    client = rendered
    missing = client.get("/api/v1/stories/story-001/files/download", params={**USER, "name": "shots/nothing.png"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/stories/story-001/files", params={**USER, "kind": "poster"}).status_code == 400
    assert client.get("/api/v1/stories/nobody/files", params=USER).status_code == 404


# ------------------------------------------------------------------ 24 shots, streamed over a socket


def _stored(store, kind: str, ext: str, payload: bytes):
    key = hashlib.sha256(payload).hexdigest()
    temp = store.temp_path(key, ext)
    temp.write_bytes(payload)

    async def accept(path: Path) -> None:
        return None

    return asyncio.run(store.adopt(key, kind, temp, Produced("test", "test"), accept))


def _story_of_24_shots(engine, size: int) -> dict[str, bytes]:
    """A story whose 24 shots each have a keyframe, narration and segment of ``size`` random bytes."""
    store, repo = engine.deps.store, engine.deps.stories
    story = StoryRecord("u-big", "big", "big", "script", "", "16:9", 180)
    shots = [ShotRecord("u-big", "big", f"s{n:02d}", n, "subject", "detail", "camera", "narration", "", "", n) for n in range(1, 25)]
    cast = [CharacterRecord("u-big", "big", "hero", 1, "Hero", "tall")]
    repo.replace_story(story, shots, cast)
    expected: dict[str, bytes] = {}
    for shot in shots:
        folder = f"shots/{shot.sequence:03d}-{shot.shot_id}"
        for attribute, kind, ext, name in (("image_key", "keyframe", "png", "keyframe"), ("audio_key", "narration", "wav", "narration"), ("video_key", "segment", "mp4", "segment")):
            payload = os.urandom(size)
            setattr(shot, attribute, _stored(store, kind, ext, payload).key)
            expected[f"{folder}/{name}.{ext}"] = payload
        repo.save_shot(shot)
    video = os.urandom(size * 4)
    repo.set_story_video("u-big", "big", _stored(store, "video", "mp4", video).key, None)
    expected["video.mp4"] = video
    portrait = os.urandom(size)
    cast[0].reference_key = _stored(store, "keyframe", "png", portrait).key
    repo.save_character(cast[0])
    expected["cast/hero.png"] = portrait
    return expected


def test_a_story_of_24_shots_streams_as_a_zip_with_a_bounded_memory_peak(client, tmp_path):
    size = 1_500_000
    expected = _story_of_24_shots(client.app.state.engine, size)
    total = sum(len(payload) for payload in expected.values())
    server = ServerThread(client.app).start()
    target = tmp_path / "download.zip"
    tracemalloc.start()
    try:
        with httpx.stream("GET", f"{server.url}/api/v1/stories/big/files/download", params={"user_id": "u-big"}, timeout=60) as response:
            assert response.status_code == 200, response.read()
            declared = int(response.headers["content-length"])
            with target.open("wb") as out:
                for chunk in response.iter_raw():
                    out.write(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        server.stop()
    print(f"zip peak {peak / 2**20:.2f} MiB for {total / 2**20:.0f} MiB")
    assert total > 100 * 2**20
    # Server and client together never held more than a few chunks: a small fraction of the archive.
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MiB while streaming {total / 2**20:.0f} MiB"
    assert target.stat().st_size == declared
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None
        names = set(archive.namelist())
        assert names == set(expected) | {"storyboard.json"}
        for name, payload in expected.items():
            info = archive.getinfo(name)
            assert info.compress_type == zipfile.ZIP_STORED and info.file_size == len(payload)
            assert archive.read(name) == payload, name
        storyboard = json.loads(archive.read("storyboard.json"))
        assert [shot["id"] for shot in storyboard["shots"]] == [f"s{n:02d}" for n in range(1, 25)]
