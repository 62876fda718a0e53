"""Reference pictures through DashScope: a Qwen-Image 2.x model gets each character's picture as an image
part of its synchronous multimodal-generation call (before the text); a model that takes no pictures gets
the characters as text only."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest
from PIL import Image

from app_api.dashscope.backends import DashScopeKit
from story2video.providers.base import CharacterLook, ImageRequest, StageContext

SYNC_PATH = "/api/v1/services/aigc/multimodal-generation/generation"
TOM = CharacterLook("Tom", "a young fisherman, short black hair, yellow raincoat")
ANNA = CharacterLook("Anna", "a tall woman, red braid, grey wool coat")


def _portrait(path: Path, colour: tuple[int, int, int]) -> Path:
    Image.new("RGB", (96, 96), colour).save(path)
    return path


def _draw(kit: DashScopeKit, tmp_path: Path, references: tuple[Path, ...], looks=(TOM, ANNA)):
    request = ImageRequest(prompt="Tom and Anna meet on the pier at dawn", subject="the pier", narration="", style="realistic",
                           width=320, height=180, seed=7, characters=looks, references=references)
    return asyncio.run(kit.image().generate(request, tmp_path / "k.png", StageContext()))


def test_qwen_image_2_gets_the_references_as_image_parts(cloud_settings, dashscope, tmp_path):
    tom, anna = _portrait(tmp_path / "tom.png", (200, 40, 40)), _portrait(tmp_path / "anna.png", (40, 40, 200))
    _draw(DashScopeKit(cloud_settings(dashscope_image_model="qwen-image-2.0")), tmp_path, (tom, anna))
    content = dashscope.paths(SYNC_PATH)[0].body["input"]["messages"][0]["content"]
    assert [next(iter(part)) for part in content] == ["image", "image", "text"]
    sent = [base64.b64decode(part["image"].split(",", 1)[1]) for part in content[:2]]
    assert sent == [tom.read_bytes(), anna.read_bytes()] == dashscope.input_pictures[0]
    assert f"Tom: {TOM.appearance}" in content[2]["text"] and f"Anna: {ANNA.appearance}" in content[2]["text"]
    with Image.open(tmp_path / "k.png") as image:
        assert image.size == (320, 180)


def test_a_model_without_picture_inputs_gets_the_characters_as_text(cloud_settings, dashscope, tmp_path):
    tom = _portrait(tmp_path / "tom.png", (200, 40, 40))
    _draw(DashScopeKit(cloud_settings(dashscope_image_model="qwen-image-max")), tmp_path, (tom,), looks=(TOM,))
    content = dashscope.paths(SYNC_PATH)[0].body["input"]["messages"][0]["content"]
    assert [next(iter(part)) for part in content] == ["text"] and f"Tom: {TOM.appearance}" in content[0]["text"]


def test_more_references_than_the_model_takes_are_left_to_the_text(cloud_settings, dashscope, tmp_path):
    pictures = tuple(_portrait(tmp_path / f"p{i}.png", (60 * i, 80, 80)) for i in range(4))
    _draw(DashScopeKit(cloud_settings(dashscope_image_model="qwen-image-2.0-pro")), tmp_path, pictures, looks=(TOM, ANNA) * 2)
    assert len(dashscope.input_pictures[0]) == 3


@pytest.mark.parametrize("image", ["https://example.invalid/x.png", "data:image/png;base64,not-a-picture"])
def test_the_fake_refuses_pictures_it_cannot_read(dashscope, image):
    import httpx

    from tests.fakes.dashscope import KEY

    body = {"model": "qwen-image-2.0", "input": {"messages": [{"role": "user", "content": [{"image": image}, {"text": "p"}]}]},
            "parameters": {"size": "1024*1024"}}
    response = httpx.post(f"{dashscope.url}{SYNC_PATH}", json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 400 and response.json()["code"] == "InvalidParameter"
