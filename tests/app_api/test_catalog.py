"""DashScope's model tables by region: names and tiers chosen from the table, start-up refusals that
name the model, the region and what the table allows, and the synchronous image call of the models
that have no asynchronous one, all against a fake DashScope that offers its own region's models."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from PIL import Image

from app_api import build_providers
from app_api.dashscope.backends import DashScopeKit
from app_api.dashscope.catalog import IMAGE_MODELS, VIDEO_MODELS, region_of
from app_api.dashscope.errors import ContentRejected
from story2video.errors import BackendError, ConfigurationError
from story2video.providers.base import ClipRequest, ImageRequest, StageContext
from tests.conftest import small_settings
from tests.fakes.dashscope import KEY, MARKER, FakeDashScope

VIDEO_PATH = "/api/v1/services/aigc/video-generation/video-synthesis"
SYNC_PATH = "/api/v1/services/aigc/multimodal-generation/generation"


@pytest.fixture
def singapore(ffmpeg_path):
    fake = FakeDashScope(ffmpeg_path, region="singapore").start()
    yield fake
    fake.stop()


def keyframe(tmp_path, size=(640, 360)):
    path = tmp_path / "ab" / ("ab" + "0" * 62 + ".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 120, 40)).save(path)
    return path


def animate(kit, tmp_path, width=640, height=360, duration=3.0):
    request = ClipRequest(keyframe=keyframe(tmp_path), prompt="纸船", camera="", duration=duration, width=width, height=height, fps=12, seed=3)
    return asyncio.run(kit.video().animate(request, tmp_path / "clip.mp4", StageContext()))


def draw(kit, tmp_path, width=320, height=180, prompt="晨雾中的木窗"):
    request = ImageRequest(prompt=prompt, subject="木窗", narration="清晨", style="", width=width, height=height, seed=7)
    return asyncio.run(kit.image().generate(request, tmp_path / "k.png", StageContext()))


def test_the_region_follows_the_host_unless_set(tmp_path):
    assert region_of(small_settings(tmp_path)) == "beijing"
    assert region_of(small_settings(tmp_path, dashscope_base_url="https://dashscope-intl.aliyuncs.com")) == "singapore"
    assert region_of(small_settings(tmp_path, dashscope_base_url="http://10.0.0.5:8080", dashscope_region="singapore")) == "singapore"


def test_each_region_has_its_own_names():
    assert "wanx2.1-i2v-turbo" in VIDEO_MODELS["beijing"] and "wanx2.1-i2v-turbo" not in VIDEO_MODELS["singapore"]
    assert "wan2.1-i2v-turbo" in VIDEO_MODELS["singapore"] and "wan2.1-i2v-turbo" not in VIDEO_MODELS["beijing"]
    assert VIDEO_MODELS["beijing"]["wan2.6-i2v"].resolutions == ("720P", "1080P")
    assert IMAGE_MODELS["beijing"]["qwen-image-max"].call == "sync" and IMAGE_MODELS["beijing"]["qwen-image-plus"].call == "task"


def test_a_model_of_the_other_region_is_refused_at_start_up(cloud_settings, singapore, tmp_path):
    settings = small_settings(tmp_path, **singapore.settings(), dashscope_video_model="wanx2.1-i2v-turbo")
    with pytest.raises(ConfigurationError) as caught:
        build_providers(settings)
    message = caught.value.message
    assert "DASHSCOPE_VIDEO_MODEL=wanx2.1-i2v-turbo is not offered in Singapore" in message
    assert "wan2.1-i2v-turbo" in message and "it is a Beijing" in message
    with pytest.raises(ConfigurationError, match="wan2.1-i2v-plus is not offered in Beijing"):
        DashScopeKit(cloud_settings(dashscope_video_model="wan2.1-i2v-plus")).video()


def test_the_fake_refuses_names_of_the_other_region(singapore):
    body = {"model": "wanx2.1-i2v-turbo", "input": {"prompt": "p", "img_url": "data:,"}, "parameters": {"resolution": "480P", "duration": 5}}
    headers = {"Authorization": f"Bearer {KEY}", "X-DashScope-Async": "enable"}
    answer = httpx.post(f"{singapore.url}{VIDEO_PATH}", json=body, headers=headers)
    assert answer.status_code == 400 and answer.json()["message"] == "Model not exist."


def test_a_singapore_model_renders_against_a_singapore_fake(singapore, tmp_path):
    kit = DashScopeKit(small_settings(tmp_path, **singapore.settings(), dashscope_video_model="wan2.1-i2v-turbo"))
    clip = animate(kit, tmp_path, duration=3.4)
    parameters = singapore.paths(VIDEO_PATH)[0].body["parameters"]
    assert (parameters["resolution"], parameters["duration"]) == ("480P", 4) and clip.duration > 0


def test_a_resolution_the_model_lacks_is_refused_naming_what_it_offers(cloud_settings):
    with pytest.raises(ConfigurationError) as caught:
        DashScopeKit(cloud_settings(dashscope_video_model="wan2.6-i2v", dashscope_video_resolution="480P")).video()
    message = caught.value.message
    assert "DASHSCOPE_VIDEO_RESOLUTION=480P" in message and "wan2.6-i2v in Beijing" in message and "720P, 1080P only" in message


def test_wan_2_6_gets_its_smallest_tier_for_a_small_render(cloud_settings, dashscope, tmp_path):
    animate(DashScopeKit(cloud_settings(dashscope_video_model="wan2.6-i2v")), tmp_path, width=320, height=180)
    parameters = dashscope.paths(VIDEO_PATH)[0].body["parameters"]
    assert (parameters["resolution"], parameters["duration"], parameters["audio"]) == ("720P", 5, False)


def test_an_unknown_model_is_refused_with_the_known_ones_unless_allowed(cloud_settings, dashscope, tmp_path):
    with pytest.raises(ConfigurationError) as caught:
        DashScopeKit(cloud_settings(dashscope_video_model="wan9.9-i2v")).video()
    message = caught.value.message
    assert "DASHSCOPE_VIDEO_MODEL=wan9.9-i2v is not in the model table for Beijing" in message
    assert "wan2.2-i2v-flash" in message and "DASHSCOPE_ALLOW_UNKNOWN_MODELS=true" in message
    with pytest.raises(ConfigurationError, match="DASHSCOPE_IMAGE_MODEL=qwen-image-9 is not in the model table"):
        DashScopeKit(cloud_settings(dashscope_image_model="qwen-image-9")).image()
    allowed = DashScopeKit(cloud_settings(dashscope_video_model="wan9.9-i2v", dashscope_allow_unknown_models=True))
    assert allowed.video().entry.makes_sound  # taken as a Wan 2.5+ model
    with pytest.raises(BackendError, match="Model not exist"):  # the fake does not know it either
        animate(allowed, tmp_path)
    assert dashscope.paths(VIDEO_PATH)[0].body["parameters"]["resolution"] == "480P"


def test_qwen_image_max_draws_through_the_synchronous_call(cloud_settings, dashscope, tmp_path):
    result = draw(DashScopeKit(cloud_settings(dashscope_image_model="qwen-image-max")), tmp_path, 180, 320)
    with Image.open(tmp_path / "k.png") as image:
        assert (image.format, image.size) == ("PNG", (180, 320))
    call = dashscope.paths(SYNC_PATH)[0]
    assert "x-dashscope-async" not in call.headers
    assert call.body["model"] == "qwen-image-max" and call.body["parameters"]["size"] == "928*1664"
    assert call.body["input"]["messages"][0]["content"][0]["text"].startswith("晨雾中的木窗")
    assert dashscope.paths("/api/v1/tasks/") == [] and dashscope.paths("/api/v1/services/aigc/text2image") == []
    assert result.actual_prompt.startswith("晨雾中的木窗")


def test_qwen_image_2_takes_the_frames_own_shape(cloud_settings, dashscope, tmp_path):
    draw(DashScopeKit(cloud_settings(dashscope_image_model="qwen-image-2.0")), tmp_path, 1280, 720)
    assert dashscope.paths(SYNC_PATH)[0].body["parameters"]["size"] == "1280*720"


def test_the_fake_refuses_a_synchronous_model_as_a_task(dashscope):
    body = {"model": "qwen-image-max", "input": {"prompt": "p"}, "parameters": {"size": "1328*1328"}}
    headers = {"Authorization": f"Bearer {KEY}", "X-DashScope-Async": "enable"}
    answer = httpx.post(f"{dashscope.url}/api/v1/services/aigc/text2image/image-synthesis", json=body, headers=headers)
    assert answer.status_code == 400 and "asynchronous" in answer.json()["message"]


def test_a_synchronous_call_rejected_by_moderation_is_softened_once(cloud_settings, dashscope, tmp_path):
    draw(DashScopeKit(cloud_settings(dashscope_image_model="qwen-image-max")), tmp_path, prompt=f"a {MARKER} window")
    texts = [c.body["input"]["messages"][0]["content"][0]["text"] for c in dashscope.paths(SYNC_PATH)]
    assert len(texts) == 2 and MARKER in texts[0] and MARKER not in texts[1]
    dashscope.soften_keeps_marker = True
    with pytest.raises(ContentRejected):
        draw(DashScopeKit(cloud_settings(dashscope_image_model="qwen-image-max")), tmp_path, prompt=f"a {MARKER} door")


def test_a_synchronous_call_answered_5xx_is_not_sent_again(cloud_settings, dashscope, tmp_path):
    from tests.fakes.dashscope import Canned, error_body

    dashscope.canned["image"].append(Canned(500, error_body("InternalError", "boom")))
    with pytest.raises(BackendError, match="not submitted again"):
        draw(DashScopeKit(cloud_settings(dashscope_image_model="qwen-image-max")), tmp_path)
    assert len(dashscope.paths(SYNC_PATH)) == 1
