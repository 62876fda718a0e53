"""The ComfyUI providers inside the real service: create and render through the API on two fake hosts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from app_api import build_providers
from app_local.comfy import build_image_generator, build_video_generator
from tests.conftest import create_body, small_settings
from tests.fakes.comfy_support import ComfyFactory, comfy_settings, fake_comfy_hosts


@pytest.fixture
def comfy_servers(tmp_path: Path) -> Iterator[ComfyFactory]:
    with fake_comfy_hosts(tmp_path) as start:
        yield start


def test_create_and_render_with_comfyui_keyframes_and_clips(make_client, tmp_path, comfy_servers):
    first, second = comfy_servers(), comfy_servers()
    settings = comfy_settings(tmp_path, first, second)
    providers = replace(
        build_providers(small_settings(tmp_path)),
        image=build_image_generator(settings),
        video=build_video_generator(settings),
    )
    client = make_client(providers=providers)

    created = client.post("/api/v1/storyboard/create", json=create_body())
    assert created.status_code == 200, created.text
    rendered = client.post("/api/v1/video/render", json={"operation_id": "op-r", "story_id": "story-001", "user_id": "u-001"})
    assert rendered.status_code == 200, rendered.text
    assert rendered.json()["video_url"]

    shots = client.get("/api/v1/stories/story-001", params={"user_id": "u-001"}).json()["shots"]
    assert {(s["artifacts"]["image"]["backend"], s["artifacts"]["image"]["model"]) for s in shots} == {("comfyui", "fake-t2i")}
    assert len(first.prompts) + len(second.prompts) == 2 * len(shots)  # one keyframe and one clip per shot
    assert first.prompts and second.prompts  # shots ran on both hosts
    backends = {backend["stage"]: backend for backend in client.get("/ready").json()["backends"]}
    assert backends["clips"]["backend"] == "comfyui" and backends["clips"]["model"] == "fake-i2v-webp"
    assert backends["keyframes"]["location"] == f"{first.url} (up), {second.url} (up)"
