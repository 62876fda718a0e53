"""Done-means of local mode: with every local service faked (the documented dev stack), the seed's
three requests render end to end on Ollama + ComfyUI + CosyVoice."""

from __future__ import annotations

from app_local import build_providers
from tests.conftest import create_body, small_settings
from tests.fakes.devstack import devstack
from tests.mediacheck import streams

SEED = [
    ("/api/v1/storyboard/create", create_body()),
    ("/api/v1/shot/regenerate", {"operation_id": "op-002", "story_id": "story-001", "shot_id": "shot_01", "user_id": "u-001", "detail": "新的细节描述"}),
    ("/api/v1/video/render", {"operation_id": "op-003", "story_id": "story-001", "user_id": "u-001"}),
]


def test_seed_requests_render_on_the_fake_local_stack(make_client, tmp_path):
    with devstack(tmp_path / "stack") as env:
        overrides = {key.lower(): value for key, value in env.items()}
        client = make_client(providers=build_providers(small_settings(tmp_path, **overrides)), **overrides)
        responses = [client.post(path, json=body) for path, body in SEED]
        assert [r.status_code for r in responses] == [200, 200, 200], [r.text for r in responses]
        video = client.get(responses[-1].json()["video_url"]).content
        assert (streams(video).video_codec, streams(video).audio_codec) == ("h264", "aac")
        shots = client.get("/api/v1/stories/story-001", params={"user_id": "u-001"}).json()["shots"]
        assert {s["artifacts"]["image"]["backend"] for s in shots} == {"comfyui"}
        assert {s["artifacts"]["audio"]["backend"] for s in shots} == {"cosyvoice"}
        backends = {b["stage"]: b["backend"] for b in client.get("/ready").json()["backends"]}
        assert backends == {"storyboard": "ollama", "keyframes": "comfyui", "clips": "comfyui", "narration": "cosyvoice", "script": "ollama"}
