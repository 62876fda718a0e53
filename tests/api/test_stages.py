"""Seed 003's stage endpoints: its request examples sent unchanged, its response fields exactly, and
GET /tasks/{id} over operations."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from story2video.api.routes.stages import SEED_CLIPS, SEED_FRAMES, SEED_NARRATION, SEED_STORYBOARD
from tests.conftest import create_body

KEY_A = "key-for-user-a-0123456789"
KEY_B = "key-for-user-b-0123456789"


def test_the_seed_examples_here_are_the_documents(client):
    assert SEED_STORYBOARD == {"story": "一位独行武者穿越废土城市寻找真相", "style": "赛博朋克，冷色光影", "scenes": 6}
    assert SEED_FRAMES["image_style"] == {"resolution": "768x512", "num_steps": 4, "cfg_scale": 1.5, "seed": 123}
    assert SEED_CLIPS == {
        "frames": [{"scene_id": "s1", "frame": "/data/frames/s1.png", "duration": 2.0, "transition": "crossfade"}],
        "video": {"fps": 12, "resolution": "720p", "transition_duration": 0.6},
    }
    assert SEED_NARRATION == {"lines": [{"scene_id": "s1", "text": "他踏入荒城，霓虹被尘土掩埋。"}], "voice": "cosyvoice-mini", "speed": 1.0, "format": "wav"}


def test_storyboard_alone(client):
    # Sent unchanged to the rule-based preview writer, which cuts only between sentences and clauses: one
    # sentence cannot make 6 scenes, and it says so (an LLM backend would write them).
    refused = client.post("/api/v1/storyboard", json=SEED_STORYBOARD)
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "scenes", refused.text
    assert "scenes=6" in refused.json()["error"]["message"]

    longer = "。".join(["一位独行武者穿越废土城市寻找真相", "霓虹被尘土掩埋", "他走进荒城的大门", "风里传来旧日的歌", "他在塔顶找到答案", "黎明照亮了废墟"]) + "。"
    answer = client.post("/api/v1/storyboard", json={**SEED_STORYBOARD, "story": longer})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"task_id", "storyboard"} and body["task_id"].startswith("task_storyboard_")
    scenes = body["storyboard"]
    assert len(scenes) == 6 and [scene["scene_id"] for scene in scenes] == [f"s{n}" for n in range(1, 7)]
    assert all(set(scene) == {"scene_id", "title", "prompt", "narration", "bgm"} for scene in scenes)
    assert "".join(scene["narration"] for scene in scenes).replace("，", "").replace("。", "")  # words, not blanks
    story = client.get(f"/api/v1/stories/{body['task_id']}", params={"user_id": "stages"}).json()
    assert len(story["shots"]) == 6 and all(shot["image_url"] is None for shot in story["shots"])  # no pictures drawn
    task = client.get(f"/api/v1/tasks/{body['task_id']}").json()
    assert task == {"task_id": body["task_id"], "status": "done", "progress": 1.0, "result": {"storyboard": scenes}, "error": None}


def test_frames_then_clips_from_them(client):
    frames = client.post("/api/v1/frames", json=SEED_FRAMES)
    assert frames.status_code == 200, frames.text
    body = frames.json()
    assert set(body) == {"task_id", "frames"} and [set(frame) for frame in body["frames"]] == [{"scene_id", "frame"}]
    link = body["frames"][0]["frame"]
    assert link.startswith("http://testserver/api/v1/artifacts/") and link.endswith(".png")
    assert client.get(f"/api/v1/stories/{body['task_id']}", params={"user_id": "stages"}).status_code == 200
    picture = Image.open(io.BytesIO(client.get(link).content))
    assert picture.size == (910, 512)  # 768x512 → the nearest aspect (16:9) with its short side

    refused = client.post("/api/v1/clips", json=SEED_CLIPS)  # sent unchanged: its path is none of ours
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "frames.0.frame"

    ours = {**SEED_CLIPS, "frames": [{**SEED_CLIPS["frames"][0], "frame": link}]}
    clips = client.post("/api/v1/clips", json=ours)
    assert clips.status_code == 200, clips.text
    body = clips.json()
    assert set(body) == {"task_id", "clips"} and body["clips"][0]["scene_id"] == "s1"
    clip_link = body["clips"][0]["clip"]
    assert clip_link.endswith(".mp4")
    clip = client.get(clip_link)
    assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
    story = client.get(f"/api/v1/stories/{body['task_id']}", params={"user_id": "stages"}).json()
    assert story["shots"][0]["artifacts"]["video"]["duration"] == pytest.approx(2.0, abs=0.1)
    assert story["resolution"] == 720

    other_users = client.post("/api/v1/clips", params={"user_id": "u-other"}, json=ours)
    assert other_users.status_code == 400 and "no picture of user 'u-other'" in other_users.json()["error"]["message"]


def test_narration_for_given_lines(client):
    unknown_voice = client.post("/api/v1/narration", json=SEED_NARRATION)  # sent unchanged: the preview has no such voice
    assert unknown_voice.status_code == 400, unknown_voice.text
    error = unknown_voice.json()["error"]
    assert "cosyvoice-mini" in error["message"] and error["task_id"].startswith("task_narration_")
    assert client.get(f"/api/v1/tasks/{error['task_id']}").json()["status"] == "error"

    narrated = client.post("/api/v1/narration", json={key: value for key, value in SEED_NARRATION.items() if key != "voice"})
    assert narrated.status_code == 200, narrated.text
    body = narrated.json()
    assert set(body) == {"task_id", "audios"} and body["audios"][0]["scene_id"] == "s1"
    audio = client.get(body["audios"][0]["audio"])
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    story = client.get(f"/api/v1/stories/{body['task_id']}", params={"user_id": "stages"})  # a story like any other
    assert story.status_code == 200 and story.json()["shots"][0]["narration"] == SEED_NARRATION["lines"][0]["text"]
    assert client.post("/api/v1/narration", json={**SEED_NARRATION, "format": "mp3"}).json()["error"]["param"] == "format"


def test_tasks_answer_202_at_once_and_are_polled(client):
    started = client.post("/api/v1/frames", json=SEED_FRAMES, headers={"Prefer": "respond-async"})
    assert started.status_code == 202 and started.headers["Location"].startswith("/api/v1/tasks/task_frames_")
    task_id = started.json()["task_id"]
    assert started.json()["status"] in ("pending", "running", "done")
    deadline = time.monotonic() + 60
    while (task := client.get(started.headers["Location"]).json())["status"] not in ("done", "error"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert task["status"] == "done" and task["task_id"] == task_id and task["result"]["frames"][0]["frame"].endswith(".png")


def test_tasks_are_operations_of_their_user(make_client):
    client = make_client(api_keys=f"{KEY_A}:u-001,{KEY_B}:u-002")
    created = client.post("/api/v1/storyboard/create", json=create_body(), headers={"X-API-Key": KEY_A})
    assert created.status_code == 200
    task = client.get("/api/v1/tasks/op-001", headers={"X-API-Key": KEY_A}).json()
    assert task["status"] == "done" and len(task["result"]["shots"]) == len(created.json()["shots"])
    assert client.get("/api/v1/tasks/op-001", headers={"X-API-Key": KEY_B}).status_code == 404
    frames = client.post("/api/v1/frames", json=SEED_FRAMES, headers={"X-API-Key": KEY_A})
    assert frames.status_code == 200 and "sig=" in frames.json()["frames"][0]["frame"]  # signed like every link
    task_id = frames.json()["task_id"]
    assert client.get(f"/api/v1/tasks/{task_id}", headers={"X-API-Key": KEY_B}).status_code == 404
    acting_for_a = client.post("/api/v1/frames", params={"user_id": "u-001"}, json=SEED_FRAMES, headers={"X-API-Key": KEY_B})
    assert acting_for_a.status_code == 403
