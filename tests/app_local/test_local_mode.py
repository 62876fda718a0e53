"""Local mode end to end: Ollama writes the storyboard, the CosyVoice server speaks, FFmpeg cuts."""

from __future__ import annotations

import json

import pytest
from pytest_httpserver import HTTPServer

from app_local import build_providers
from tests.conftest import create_body, small_settings
from tests.fakes.cosyvoice import FakeCosyVoice
from tests.fakes.ollama import FakeOllama


@pytest.fixture
def servers():
    ollama_server, voice_server = HTTPServer(), HTTPServer()
    ollama_server.start()
    voice_server.start()
    yield FakeOllama(ollama_server), FakeCosyVoice(voice_server)
    ollama_server.stop()
    voice_server.stop()


def test_seed_requests_in_local_mode(make_client, tmp_path, servers):
    ollama, voice = servers
    shots = [
        {"subject": f"镜头{n}", "detail": f"写实风格，画面{n}", "camera": "中景，缓慢推近", "narration": f"第{n}句旁白。", "tone": "平静"}
        for n in range(1, 5)
    ]
    ollama.reply_with(json.dumps({"shots": shots}, ensure_ascii=False))
    overrides = dict(local_inference=True, ollama_url=ollama.url, cosyvoice_url=voice.url, image_backend="preview", video_backend="preview")
    client = make_client(providers=build_providers(small_settings(tmp_path, **overrides)), **overrides)

    created = client.post("/api/v1/storyboard/create", json=create_body())
    assert created.status_code == 200, created.text
    assert [s["narration"] for s in created.json()["shots"]] == [s["narration"] for s in shots]
    rendered = client.post("/api/v1/video/render", json={"operation_id": "op-r", "story_id": "story-001", "user_id": "u-001"})
    assert rendered.status_code == 200, rendered.text
    story = client.get("/api/v1/stories/story-001", params={"user_id": "u-001"}).json()
    assert {s["artifacts"]["audio"]["backend"] for s in story["shots"]} == {"cosyvoice"}
    assert len(voice.requests) == 4
    ready = client.get("/ready").json()
    backends = {b["stage"]: b for b in ready["backends"]}
    assert backends["storyboard"]["backend"] == "ollama" and backends["storyboard"]["location"] == ollama.url
    assert ready["mode"] == "local" and ready["ready"] is True


def test_local_mode_with_nothing_running_fails_loudly_naming_the_backend(make_client, tmp_path):
    overrides = dict(local_inference=True, ollama_url="http://127.0.0.1:9", cosyvoice_url="http://127.0.0.1:9", image_backend="preview", video_backend="preview")
    client = make_client(providers=build_providers(small_settings(tmp_path, **overrides)), **overrides)
    ready = client.get("/ready")
    assert ready.status_code == 503
    response = client.post("/api/v1/storyboard/create", json=create_body())
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "backend_unavailable" and error["stage"] == "storyboard" and "127.0.0.1:9" in error["message"]


def test_prompt_refinement_is_its_own_cached_step(make_client, tmp_path, servers):
    ollama, voice = servers
    shots = [
        {"subject": f"镜头{n}", "detail": f"水彩风格，河边的纸船{n}", "camera": "中景", "narration": f"第{n}句旁白。", "tone": "平静"}
        for n in range(1, 5)
    ]
    ollama.reply_with(json.dumps({"shots": shots}, ensure_ascii=False), json.dumps({"shots": shots}, ensure_ascii=False))
    ollama.reply_plainly_with(*[f"a paper boat on a river, shot {n}, watercolor" for n in range(1, 5)])
    overrides = dict(
        local_inference=True, ollama_url=ollama.url, cosyvoice_url=voice.url, image_backend="preview", video_backend="preview",
        prompt_refiner_backend="ollama",
    )
    client = make_client(providers=build_providers(small_settings(tmp_path, **overrides)), **overrides)
    assert client.post("/api/v1/storyboard/create", json=create_body()).status_code == 200
    db = client.app.state.engine.deps.stories.db
    prompts = sorted(json.loads(row["meta"])["prompt"] for row in db.fetch_all("SELECT meta FROM artifacts WHERE kind='keyframe'"))
    assert prompts == sorted(f"a paper boat on a river, shot {n}, watercolor" for n in range(1, 5))
    refine_calls = [chat for chat in ollama.chats if not chat.get("format")]
    assert len(refine_calls) == 4

    again = client.post("/api/v1/storyboard/create", json=create_body(operation_id="op-again"))
    assert again.status_code == 200
    assert len([chat for chat in ollama.chats if not chat.get("format")]) == 4  # refinements reused, not asked again
    stages = {b["stage"]: b for b in client.get("/ready").json()["backends"]}
    assert stages["prompts"]["backend"] == "ollama"
