"""Editor exports read back by independent readers, every clip's timing checked against the render:
the segments' stored durations, the request's fps and crossfade, and the lead-in setting."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
import zipfile
from fractions import Fraction

import opentimelineio as otio
import pytest

from tests.conftest import create_body

FPS, FADE_S, LEAD_IN = 24, 0.25, 0.2
FADE = round(FADE_S * FPS)
USER = {"user_id": "u-001"}


@pytest.fixture(scope="module")
def render(tmp_path_factory):
    from fastapi.testclient import TestClient

    from app_api import build_providers
    from story2video.app import create_app
    from tests.conftest import small_settings

    settings = small_settings(tmp_path_factory.mktemp("exports"), segment_lead_in_s=LEAD_IN)
    with TestClient(create_app(settings, build_providers(settings))) as client:
        assert client.post("/api/v1/storyboard/create", json=create_body(shot_count=3)).status_code == 200
        body = {"operation_id": "op-r", "story_id": "story-001", "user_id": "u-001", "crossfade": FADE_S, "fps": FPS}
        rendered = client.post("/api/v1/video/render", json=body)
        assert rendered.status_code == 200, rendered.text
        story = client.get("/api/v1/stories/story-001", params=USER).json()
        frames = [round(shot["artifacts"]["video"]["duration"] * FPS) for shot in story["shots"]]
        starts = [sum(count - FADE for count in frames[:index]) for index in range(len(frames))]
        yield {"client": client, "story": story, "frames": frames, "starts": starts, "video": rendered.json()}


def _get(render, export_format: str, **params):
    response = render["client"].get(f"/api/v1/stories/story-001/export/{export_format}", params={**USER, **params})
    assert response.status_code == 200, response.text
    return response


def _cut(render, index: int) -> tuple[int, int, int]:
    """(record start, source start, frames shown) of shot ``index``: the dissolve split at its middle."""
    frames, starts, last = render["frames"], render["starts"], len(render["frames"]) - 1
    head = FADE // 2 if index > 0 else 0
    tail = FADE - FADE // 2 if index < last else 0
    return starts[index] + head, head, frames[index] - head - tail


def test_the_render_total_matches_the_final_video(render):
    total = sum(render["frames"]) - FADE * (len(render["frames"]) - 1)
    assert abs(total / FPS - render["video"]["duration"]) < 0.05


def test_otio_timeline_clips_narration_and_subtitles(render):
    timeline = otio.adapters.read_from_string(_get(render, "otio", media_root="file:///media/").text, "otio_json")
    video, *audio = timeline.tracks
    shots = render["story"]["shots"]
    clips = list(video.find_clips())
    assert [clip.name for clip in clips] == [shot["id"] for shot in shots]
    for index, clip in enumerate(clips):
        record, source, shown = _cut(render, index)
        assert clip.media_reference.target_url == f"file:///media/shots/{index + 1:03d}-{shots[index]['id']}/segment.mp4"
        assert clip.source_range.start_time.rate == FPS
        assert clip.source_range.start_time.value == source and clip.source_range.duration.value == shown
        assert video.range_of_child(clip).start_time.value == record
    transitions = [item for item in video if isinstance(item, otio.schema.Transition)]
    assert len(transitions) == len(clips) - 1
    assert all((item.in_offset + item.out_offset).value == FADE for item in transitions)
    assert timeline.duration().value == sum(render["frames"]) - FADE * (len(clips) - 1)
    narrations = sorted((clip for track in audio for clip in track.find_clips()), key=lambda clip: clip.name)
    assert len(narrations) == len(shots)
    for index, clip in enumerate(narrations):
        placed = clip.range_in_parent()
        assert placed.start_time.to_seconds() == pytest.approx(render["starts"][index] / FPS + LEAD_IN, abs=1e-6)
        assert placed.duration.to_seconds() == pytest.approx(shots[index]["artifacts"]["audio"]["duration"], abs=1e-6)
    srt = render["client"].get(render["story"]["subtitles_url"]).text
    cues = re.findall(r"(\d\d):(\d\d):(\d\d),(\d{3}) --> ", srt)
    starts = [int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000 for h, m, s, ms in cues]
    markers = timeline.tracks.markers
    assert len(markers) == len(starts)
    for marker, start in zip(markers, starts):
        assert marker.marked_range.start_time.to_seconds() == pytest.approx(start, abs=1 / FPS)


def _rational(value: str) -> Fraction:
    return Fraction(0) if value in ("0s", None) else Fraction(value.removesuffix("s"))


def test_fcpxml_spine_has_every_clip_at_its_frame(render):
    root = ET.fromstring(_get(render, "fcpxml").content)
    assert root.tag == "fcpxml"
    spine = root.find("./project/sequence/spine")
    clips = [element for element in spine if element.tag == "clip"]
    for index, clip in enumerate(clips):
        record, source, shown = _cut(render, index)
        assert _rational(clip.get("offset")) == Fraction(record, FPS)
        assert _rational(clip.get("start", "0s")) == Fraction(source, FPS)
        assert _rational(clip.get("duration")) == Fraction(shown, FPS)
        [narration] = clip.findall("./clip")
        at = _rational(clip.get("offset")) - _rational(clip.get("start", "0s")) + _rational(narration.get("offset"))
        # The adapter writes audio offsets in whole frames (rounded down).
        assert 0 <= float(Fraction(render["starts"][index], FPS) + Fraction(LEAD_IN).limit_denominator() - at) < 1 / FPS


def test_fcpxml_needs_a_rate_final_cut_has(make_client):
    client = make_client()
    assert client.post("/api/v1/storyboard/create", json=create_body(shot_count=1)).status_code == 200
    assert client.post("/api/v1/video/render", json={"operation_id": "r", "story_id": "story-001", "user_id": "u-001"}).status_code == 200
    refused = client.get("/api/v1/stories/story-001/export/fcpxml", params=USER)
    assert refused.status_code == 400 and "12 fps" in refused.json()["error"]["message"]


def _timecode(value: str) -> int:
    hours, minutes, seconds, frames = map(int, value.split(":"))
    return ((hours * 60 + minutes) * 60 + seconds) * FPS + frames


def test_edl_events_cut_and_dissolve_at_the_render_frames(render):
    text = _get(render, "edl").text
    events = re.findall(r"^(\d{3})\s+\S+\s+V\s+(C|D)\s*(\d*)\s+(\S+) (\S+) (\S+) (\S+)$", text, re.MULTILINE)
    cuts = [_cut(render, index) for index in range(len(render["frames"]))]
    # The first shot is a plain cut; each later one is a dissolve of FADE frames into it.
    assert events[0][1] == "C" and _timecode(events[0][5]) == 0
    dissolves = [event for event in events if event[1] == "D"]
    assert len(dissolves) == len(cuts) - 1 and all(int(event[2]) == FADE for event in dissolves)
    record_out = max(_timecode(event[6]) for event in events)
    assert record_out == sum(render["frames"]) - FADE * (len(cuts) - 1)
    for index, event in enumerate(dissolves, start=1):
        # A dissolve event runs from where the join starts overlapping the two segments to where the next overlap starts.
        following = render["starts"][index + 1] if index + 1 < len(cuts) else record_out
        assert _timecode(event[5]) == render["starts"][index] and _timecode(event[6]) == following


def test_jianying_draft_tracks_match_the_render(render):
    response = _get(render, "jianying", draft_folder="D:/JianyingPro Drafts")
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    content = json.loads(archive.read("story-001/draft_content.json"))
    json.loads(archive.read("story-001/draft_meta_info.json"))
    assert (content["canvas_config"]["width"], content["canvas_config"]["height"], content["fps"]) == (320, 180, FPS)
    tracks = {kind: [track for track in content["tracks"] if track["type"] == kind] for kind in ("video", "audio", "text")}
    [video] = tracks["video"]
    materials = {material["id"]: material for material in content["materials"]["videos"] + content["materials"]["audios"]}
    shots = render["story"]["shots"]
    for index, segment in enumerate(video["segments"]):
        record, source, shown = _cut(render, index)
        assert abs(segment["target_timerange"]["start"] - record * 1_000_000 / FPS) <= 1
        assert abs(segment["target_timerange"]["duration"] - shown * 1_000_000 / FPS) <= 1000  # MediaInfo: whole ms
        assert abs(segment["source_timerange"]["start"] - source * 1_000_000 / FPS) <= 1
        assert segment["volume"] == 0.0  # the narration plays on its own track
        path = materials[segment["material_id"]]["path"]
        assert path == f"D:/JianyingPro Drafts/story-001/materials/shots_{index + 1:03d}-{shots[index]['id']}_segment.mp4"
        assert archive.getinfo(path.removeprefix("D:/JianyingPro Drafts/")).file_size > 0
    narrations = sorted((segment for track in tracks["audio"] for segment in track["segments"]), key=lambda s: s["target_timerange"]["start"])
    for index, segment in enumerate(narrations):
        assert abs(segment["target_timerange"]["start"] - (render["starts"][index] / FPS + LEAD_IN) * 1_000_000) <= 1
        assert abs(segment["target_timerange"]["duration"] - shots[index]["artifacts"]["audio"]["duration"] * 1_000_000) <= 1000
    texts = [segment for track in tracks["text"] for segment in track["segments"]]
    srt = render["client"].get(render["story"]["subtitles_url"]).text
    assert len(texts) == srt.count(" --> ")


def test_exports_need_a_render(client):
    assert client.post("/api/v1/storyboard/create", json=create_body(shot_count=1)).status_code == 200
    for export_format in ("otio", "jianying"):
        response = client.get(f"/api/v1/stories/story-001/export/{export_format}", params=USER)
        assert response.status_code == 404 and "render it first" in response.json()["error"]["message"]
