"""The seed's three requests, unchanged, through the ASGI app with preview backends and real FFmpeg."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from loguru import logger
from PIL import Image

from story2video.media import transitions
from story2video.pipeline import crossfades
from tests import mediacheck
from tests.conftest import create_body

SHOT_FIELDS = ("subject", "detail", "camera", "narration", "tone")
REGENERATE = {
    "operation_id": "op-002",
    "story_id": "story-001",
    "shot_id": "shot_01",
    "user_id": "u-001",
    "detail": "新的细节描述：黄昏的河岸，纸船上点着一盏小灯",
}
RENDER = {"operation_id": "op-003", "story_id": "story-001", "user_id": "u-001"}


def _story(client) -> dict:
    response = client.get("/api/v1/stories/story-001", params={"user_id": "u-001"})
    assert response.status_code == 200, response.text
    return response.json()


def _download(client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, (url, response.text)
    return response.content


@pytest.fixture
def seeded(client):
    """Create then regenerate, as in the seed; returns the client and both responses."""
    created = client.post("/api/v1/storyboard/create", json=create_body())
    assert created.status_code == 200, created.text
    before = _story(client)
    regenerated = client.post("/api/v1/shot/regenerate", json=REGENERATE)
    assert regenerated.status_code == 200, regenerated.text
    return client, created.json(), before, regenerated.json()


def test_create_returns_filled_shots_with_png_keyframes(seeded):
    client, created, _, _ = seeded
    assert created["operation"] == {"operation_id": "op-001", "status": "Success", "detail": "done"}
    shots = created["shots"]
    assert 4 <= len(shots) <= 10
    assert [shot["sequence"] for shot in shots] == list(range(1, len(shots) + 1))
    assert [shot["id"] for shot in shots] == [f"shot_{i:02d}" for i in range(1, len(shots) + 1)]
    for shot in shots:
        assert all(shot[field].strip() for field in SHOT_FIELDS), shot
        image = Image.open(io.BytesIO(_download(client, shot["image_url"])))
        assert image.format == "PNG" and image.size == (320, 180)
        assert shot["artifacts"]["image"]["backend"] == "preview"
    joined = "".join(shot["narration"] for shot in shots)
    assert "林夏" in joined and "海浪" in joined


def test_regenerate_changes_only_that_shot(seeded):
    client, _, before, regenerated = seeded
    after_shots = {shot["id"]: shot for shot in _story(client)["shots"]}
    before_shots = {shot["id"]: shot for shot in before["shots"]}
    changed = regenerated["shot"]
    assert regenerated["operation"]["status"] == "Success"
    assert changed["id"] == "shot_01" and changed["detail"] == REGENERATE["detail"]
    assert changed["image_url"] != before_shots["shot_01"]["image_url"]
    for field in ("subject", "camera", "narration", "tone"):
        assert changed[field] == before_shots["shot_01"][field]
    for shot_id, shot in before_shots.items():
        if shot_id != "shot_01":
            assert after_shots[shot_id] == shot


def test_render_produces_mp4_with_one_segment_per_shot_in_order(seeded):
    client = seeded[0]
    rendered = client.post("/api/v1/video/render", json=RENDER)
    assert rendered.status_code == 200, rendered.text
    body = rendered.json()
    assert body["operation"]["status"] == "Success"
    video = _download(client, body["video_url"])
    info = mediacheck.streams(video)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert (info.width, info.height) == (320, 180)

    story = _story(client)
    shots = story["shots"]
    segment_durations = [shot["artifacts"]["video"]["duration"] for shot in shots]
    for shot, duration in zip(shots, segment_durations):
        spoken = shot["artifacts"]["audio"]["duration"]
        assert spoken > 0.5
        assert duration == pytest.approx(spoken + 0.2 + 0.4, abs=0.1), shot["id"]
    assert info.duration == pytest.approx(sum(segment_durations), abs=0.5)
    assert body["duration"] == pytest.approx(info.duration, abs=0.1)

    keyframes = [mediacheck.thumbnail(Image.open(io.BytesIO(_download(client, s["image_url"])))) for s in shots]
    start = 0.0
    for index, duration in enumerate(segment_durations):
        frame = mediacheck.thumbnail(mediacheck.frame_at(video, start + duration / 2))
        distances = [mediacheck.mean_abs_diff(frame, keyframe) for keyframe in keyframes]
        assert distances.index(min(distances)) == index, f"segment {index} looks like shot {distances.index(min(distances))}"
        spoken_window = (start + 0.3, start + duration - 0.5)
        assert mediacheck.audio_rms(video, *spoken_window) > 0.01, f"no narration audible in segment {index}"
        start += duration

    srt = _download(client, body["subtitles_url"]).decode("utf-8")
    assert "-->" in srt and shots[0]["narration"][:4] in srt


def test_second_render_reuses_everything(seeded):
    client = seeded[0]
    first = client.post("/api/v1/video/render", json=RENDER).json()
    engine = client.app.state.engine
    count = engine.deps.stories.db.fetch_one("SELECT COUNT(*) AS n FROM artifacts")["n"]
    second = client.post("/api/v1/video/render", json={**RENDER, "operation_id": "op-004"}).json()
    assert second["video_url"] == first["video_url"]
    assert engine.deps.stories.db.fetch_one("SELECT COUNT(*) AS n FROM artifacts")["n"] == count


def test_regenerate_after_render_redoes_only_that_segment(seeded):
    client = seeded[0]
    client.post("/api/v1/video/render", json=RENDER)
    before = {shot["id"]: shot for shot in _story(client)["shots"]}
    regenerate = {**REGENERATE, "operation_id": "op-005", "narration": "纸船在月光下轻轻摇晃。"}
    assert client.post("/api/v1/shot/regenerate", json=regenerate).status_code == 200
    engine = client.app.state.engine
    rows_before = {r["key"] for r in engine.deps.stories.db.fetch_all("SELECT key FROM artifacts")}
    assert client.post("/api/v1/video/render", json={**RENDER, "operation_id": "op-006"}).status_code == 200
    new_rows = engine.deps.stories.db.fetch_all("SELECT kind FROM artifacts WHERE key NOT IN (%s)" % ",".join("?" * len(rows_before)), tuple(rows_before))
    assert sorted(row["kind"] for row in new_rows) == ["narration", "segment", "subtitles", "timeline", "video"]
    after = {shot["id"]: shot for shot in _story(client)["shots"]}
    for shot_id in before:
        if shot_id != "shot_01":
            assert after[shot_id]["video_url"] == before[shot_id]["video_url"]
    assert after["shot_01"]["video_url"] != before["shot_01"]["video_url"]


def test_crossfade_render_copies_the_segments_middles(seeded):
    client = seeded[0]
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="INFO", format="{message}")
    try:
        rendered = client.post("/api/v1/video/render", json={**RENDER, "crossfade": 0.5})
    finally:
        logger.remove(sink)
    assert rendered.status_code == 200, rendered.text
    assert not [line for line in lines if "re-encodes the whole video" in line]
    shots = _story(client)["shots"]
    segment_durations = [shot["artifacts"]["video"]["duration"] for shot in shots]
    expected = sum(segment_durations) - 0.5 * (len(shots) - 1)
    info = mediacheck.streams(_download(client, rendered.json()["video_url"]))
    assert info.duration == pytest.approx(expected, abs=0.1)


def test_changing_the_crossfade_re_encodes_the_segments(seeded):
    client = seeded[0]
    client.post("/api/v1/video/render", json={**RENDER, "crossfade": 0.5})
    before = {shot["id"]: shot["video_url"] for shot in _story(client)["shots"]}
    assert client.post("/api/v1/video/render", json={**RENDER, "operation_id": "op-007", "crossfade": 0.25}).status_code == 200
    after = {shot["id"]: shot["video_url"] for shot in _story(client)["shots"]}
    assert all(after[shot_id] != url for shot_id, url in before.items())


def test_crossfades_are_encoded_beside_the_segments_and_only_once(seeded, monkeypatch):
    client = seeded[0]
    early: list[str] = []
    encoded: list[str] = []  # by the join
    decoded_edges: list[str] = []  # transitions that had to decode an edge from a segment's file
    spy_early, spy_join = crossfades.encode_transition, transitions.encode_transition
    edges_left: list[Path] = []

    async def early_transition(*args, **kwargs):
        early.append(args[6].name)
        if None in kwargs["edges"]:
            decoded_edges.append(args[6].name)
        try:
            return await spy_early(*args, **kwargs)
        finally:
            edges_left.extend(args[6].parent.glob("*.yuv"))

    async def join_transition(*args, **kwargs):
        encoded.append(args[6].name)
        return await spy_join(*args, **kwargs)

    monkeypatch.setattr(crossfades, "encode_transition", early_transition)
    monkeypatch.setattr(transitions, "encode_transition", join_transition)
    shots = len(_story(client)["shots"])
    assert client.post("/api/v1/video/render", json={**RENDER, "crossfade": 0.5}).status_code == 200
    # every transition was started as soon as its two segments existed, from the edges they wrote; the join encoded none
    assert sorted(early) == sorted(f"transition{index}.mp4" for index in range(shots - 1))
    assert encoded == decoded_edges == []
    assert not any(path.exists() for path in edges_left)  # each edge is deleted once its transition is made

    early.clear(), encoded.clear()
    assert client.post("/api/v1/video/render", json={**RENDER, "operation_id": "op-008", "crossfade": 0.5}).status_code == 200
    assert early == encoded == []  # the video was made before: nothing is encoded early for nothing

    regenerate = {**REGENERATE, "operation_id": "op-009", "narration": "纸船在月光下轻轻摇晃。"}  # shot_01 changes
    assert client.post("/api/v1/shot/regenerate", json=regenerate).status_code == 200
    early.clear(), encoded.clear()
    rendered = client.post("/api/v1/video/render", json={**RENDER, "operation_id": "op-010", "crossfade": 0.5})
    assert rendered.status_code == 200, rendered.text
    assert early == decoded_edges == ["transition0.mp4"]  # the only pair with a segment encoded by this render
    assert len(encoded) == shots - 2  # the others by the join
