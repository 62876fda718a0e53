"""Keyframes on Volcengine Ark (IMAGE_BACKEND=volcengine) against a fake speaking its protocol."""

from __future__ import annotations

import asyncio
import time
from typing import Iterator

import pytest
from PIL import Image

import app_api
from app_api.dashscope.errors import ContentRejected
from app_api.volcengine import SIZE_MAX_PIXELS, SIZE_MIN_PIXELS, VolcengineImageGenerator, request_size
from story2video.errors import BackendUnavailable
from story2video.providers.base import ImageRequest, StageContext
from tests.conftest import create_body, small_settings
from tests.fakes.ark import MARKER, Canned, FakeArk, error_body


@pytest.fixture
def ark() -> Iterator[FakeArk]:
    fake = FakeArk().start()
    yield fake
    fake.stop()


def painter(ark: FakeArk, tmp_path, **overrides) -> VolcengineImageGenerator:
    return VolcengineImageGenerator(small_settings(tmp_path, **{**ark.settings(), **overrides}))


def draw(generator: VolcengineImageGenerator, dest, prompt: str = "a lighthouse at dusk", size=(320, 180)):
    request = ImageRequest(prompt=prompt, subject="lighthouse", narration="dusk", style="watercolour", width=size[0], height=size[1], seed=42)
    return asyncio.run(generator.generate(request, dest, StageContext()))


@pytest.mark.parametrize("frame", [(320, 180), (180, 320), (1920, 1080), (4096, 4096), (8000, 2000), (144, 144)])
def test_the_size_asked_for_keeps_the_frames_shape_inside_the_models_range(frame) -> None:
    width, height = request_size(*frame)
    assert SIZE_MIN_PIXELS <= width * height <= SIZE_MAX_PIXELS
    assert width % 16 == 0 and height % 16 == 0
    assert abs(width / height - frame[0] / frame[1]) < 0.02


def test_a_keyframe_is_drawn_fetched_and_fitted_to_the_frame(ark, tmp_path) -> None:
    result = draw(painter(ark, tmp_path), tmp_path / "k.png")
    body = ark.requests[0]
    assert body["model"] == "doubao-seedream-4-0-250828" and body["watermark"] is False and body["seed"] == 42
    assert body["response_format"] == "url" and body["size"] == "1280x720"
    assert "watercolour" in body["prompt"] and result.actual_prompt == body["prompt"]
    with Image.open(tmp_path / "k.png") as picture:
        assert (picture.format, picture.size) == ("PNG", (320, 180))
        assert sum(picture.getpixel((1, 90))) < 60  # the black left band survived: the shape matched, nothing was cropped away


def test_a_rejected_key_and_a_missing_model_name_the_setting(ark, tmp_path) -> None:
    with pytest.raises(BackendUnavailable, match="ARK_API_KEY was rejected"):
        draw(painter(ark, tmp_path, ark_api_key="wrong"), tmp_path / "k.png")
    with pytest.raises(BackendUnavailable, match="ARK_IMAGE_MODEL"):
        draw(painter(ark, tmp_path, ark_image_model="doubao-seedream-9"), tmp_path / "k.png")


def test_moderation_says_to_reword_the_shot(ark, tmp_path) -> None:
    with pytest.raises(ContentRejected, match="reword"):
        draw(painter(ark, tmp_path), tmp_path / "k.png", prompt=f"a {MARKER} scene")


def test_a_429_waits_the_retry_after_and_a_lasting_one_says_so(ark, tmp_path) -> None:
    ark.canned.append(Canned(429, error_body("RateLimitExceeded.EndpointIPMLimit", "Too many requests"), {"Retry-After": "1"}))
    started = time.monotonic()
    draw(painter(ark, tmp_path), tmp_path / "k.png")
    assert time.monotonic() - started >= 0.9 and ark.generated == 1
    for _ in range(3):
        ark.canned.append(Canned(429, error_body("QuotaExceeded", "quota exceeded"), {"Retry-After": "0"}))
    with pytest.raises(BackendUnavailable, match="429"):
        draw(painter(ark, tmp_path), tmp_path / "k2.png")


def test_ready_checks_key_and_model_without_drawing(ark, tmp_path) -> None:
    assert asyncio.run(painter(ark, tmp_path).status()).ready
    assert not asyncio.run(painter(ark, tmp_path, ark_api_key="wrong").status()).ready
    missing = asyncio.run(painter(ark, tmp_path, ark_image_model="nope").status())
    assert not missing.ready and "ARK_IMAGE_MODEL" in missing.detail
    assert ark.generated == 0


def test_the_seeds_three_calls_with_ark_keyframes(make_client, ark, tmp_path) -> None:
    chosen = dict(image_backend="volcengine", storyboard_backend="preview", video_backend="preview", speech_backend="preview", **ark.settings())
    client = make_client(providers=app_api.build_providers(small_settings(tmp_path, **chosen)), **chosen)
    created = client.post("/api/v1/storyboard/create", json=create_body())
    assert created.status_code == 200, created.text
    shots = created.json()["shots"]
    assert ark.generated == len(shots)
    regenerated = client.post("/api/v1/shot/regenerate", json={"operation_id": "op-2", "story_id": "story-001", "user_id": "u-001", "shot_id": shots[0]["id"], "detail": "a red lamp"})
    assert regenerated.status_code == 200, regenerated.text
    assert ark.generated == len(shots) + 1
    rendered = client.post("/api/v1/video/render", json={"operation_id": "op-3", "story_id": "story-001", "user_id": "u-001"})
    assert rendered.status_code == 200, rendered.text
    ready = client.get("/ready").json()
    assert next(b for b in ready["backends"] if b["stage"] == "keyframes")["backend"] == "volcengine"
