"""Clips from Wan image-to-video: the keyframe as a data URI, or as a presigned OSS link."""

from __future__ import annotations

import asyncio

import pytest
from PIL import Image

from app_api.dashscope.backends import DashScopeKit
from app_api.dashscope.catalog import IMAGE_MODELS, VIDEO_MODELS
from app_api.dashscope.sizes import image_size, video_duration, video_resolution
from app_api.dashscope.video import wan_input_picture
from story2video.errors import BackendError, InvalidRequest
from story2video.providers.base import ClipFile, ClipRequest, StageContext
from tests.fakes.dashscope import MARKER


def keyframe(tmp_path, size=(320, 180)):
    path = tmp_path / "ab" / ("ab" + "0" * 62 + ".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 120, 40)).save(path)
    return path


def animate(kit, tmp_path, **changes) -> ClipFile:
    values = dict(keyframe=keyframe(tmp_path), prompt="纸船漂向远方", camera="缓缓推近", duration=3.2, width=320, height=180, fps=12, seed=3)
    request = ClipRequest(**{**values, **changes})
    return asyncio.run(kit.video().animate(request, tmp_path / "clip.mp4", StageContext()))


def test_sends_the_keyframe_inline_and_returns_the_measured_clip(kit, dashscope, tmp_path):
    clip = animate(kit, tmp_path)
    assert isinstance(clip, ClipFile) and clip.path == tmp_path / "clip.mp4"
    assert clip.duration == pytest.approx(5.0, abs=0.1)
    submit = dashscope.paths("/api/v1/services/aigc/video-generation")[0]
    assert submit.headers["x-dashscope-async"] == "enable"
    assert submit.body["model"] == "wan2.2-i2v-flash"
    assert submit.body["input"]["img_url"].startswith("data:image/png;base64,")
    assert submit.body["input"]["prompt"] == "纸船漂向远方\nCamera: 缓缓推近"
    assert submit.body["parameters"]["resolution"] == "480P" and submit.body["parameters"]["duration"] == 5
    assert dashscope.fetched_images == ["data"]


def test_resolution_setting_overrides_the_render_size(cloud_settings, dashscope, tmp_path):
    animate(DashScopeKit(cloud_settings(dashscope_video_resolution="1080P")), tmp_path)
    assert dashscope.paths("/api/v1/services/aigc/video-generation")[0].body["parameters"]["resolution"] == "1080P"


def test_with_oss_the_keyframe_goes_as_a_presigned_link(cloud_settings, dashscope, oss, tmp_path):
    kit = DashScopeKit(cloud_settings(**oss.settings()))
    animate(kit, tmp_path)
    link = dashscope.paths("/api/v1/services/aigc/video-generation")[0].body["input"]["img_url"]
    assert link.startswith(f"{oss.endpoint}/{oss.bucket}/s2v/ab/ab000") and "x-oss-signature=" in link
    assert dashscope.fetched_images == [link]  # DashScope could fetch it: the fake OSS checked the signature
    assert [entry[0] for entry in oss.log] == ["HEAD", "PUT", "GET"]


def test_a_keyframe_already_in_the_bucket_is_not_uploaded_again(cloud_settings, dashscope, oss, tmp_path):
    kit = DashScopeKit(cloud_settings(**oss.settings()))
    animate(kit, tmp_path)
    animate(kit, tmp_path)
    assert [entry[0] for entry in oss.log].count("PUT") == 1


def test_a_rejected_video_prompt_is_softened_once(kit, dashscope, tmp_path):
    animate(kit, tmp_path, prompt=f"{MARKER} battle on the river")
    prompts = [r.body["input"]["prompt"] for r in dashscope.paths("/api/v1/services/aigc/video-generation")]
    assert len(prompts) == 2 and prompts[1].startswith("gentle battle")


def test_a_failed_task_names_the_providers_code(kit, dashscope, tmp_path):
    dashscope.task_outcomes.append({"task_status": "FAILED", "code": "InvalidParameter.DataInspection", "message": "image too small"})
    with pytest.raises(BackendError) as caught:
        animate(kit, tmp_path)
    assert "image-to-video task" in caught.value.message and "image too small" in caught.value.message


@pytest.mark.parametrize(
    ("model", "size", "seconds", "resolution", "duration"),
    [
        ("wan2.2-i2v-flash", (1280, 720), 3.0, "720P", 5),
        ("wan2.2-i2v-plus", (1280, 720), 3.0, "1080P", 5),
        ("wan2.5-i2v-preview", (720, 1280), 7.5, "720P", 10),
        ("wanx2.1-i2v-turbo", (320, 180), 3.4, "480P", 4),
        ("wanx2.1-i2v-turbo", (1920, 1080), 12.0, "720P", 5),
        ("wan2.6-i2v", (320, 180), 3.0, "720P", 5),
        ("wan2.6-i2v", (1920, 1080), 12.0, "1080P", 15),
    ],
)
def test_video_resolution_and_duration_choices(model, size, seconds, resolution, duration):
    entry = VIDEO_MODELS["beijing"][model]
    assert video_resolution(entry, *size) == resolution
    assert video_duration(entry, seconds) == duration


@pytest.mark.parametrize(
    ("model", "size", "asked"),
    [
        ("qwen-image-plus", (1280, 720), (1664, 928)),
        ("qwen-image", (1080, 1440), (1140, 1472)),
        ("wan2.2-t2i-flash", (720, 1280), (720, 1280)),
        ("wanx-v1", (720, 720), (1024, 1024)),
        ("qwen-image-max", (1080, 1440), (1104, 1472)),
        ("qwen-image-2.0", (720, 1280), (720, 1280)),
    ],
)
def test_image_size_choices(model, size, asked):
    assert image_size(IMAGE_MODELS["beijing"][model], *size) == asked


@pytest.mark.parametrize(
    ("size", "sent"),
    [((320, 180), (640, 360)), ((180, 320), (360, 640)), ((3840, 2160), (2000, 1125)), ((1280, 720), None)],
)
def test_the_keyframe_sent_to_wan_is_scaled_into_its_limits(tmp_path, size, sent):
    keyframe = tmp_path / "ab" / "ab00.png"
    keyframe.parent.mkdir()
    Image.new("RGB", size, (200, 100, 50)).save(keyframe)
    picture = wan_input_picture(keyframe, tmp_path / "scratch")
    if sent is None:
        assert picture == keyframe  # inside the limits: sent as it is
    else:
        with Image.open(picture) as scaled:
            assert scaled.size == sent


def test_a_frame_too_narrow_for_wan_is_refused_with_what_to_change(tmp_path):
    keyframe = tmp_path / "thin.png"
    Image.new("RGB", (2400, 200), (0, 0, 0)).save(keyframe)
    with pytest.raises(InvalidRequest, match="aspect_ratio"):
        wan_input_picture(keyframe, tmp_path / "scratch")


def test_wan_2_5_and_later_are_told_not_to_make_sound(cloud_settings, dashscope, tmp_path):
    table = VIDEO_MODELS["beijing"]
    assert [table[m].makes_sound for m in ("wan2.2-i2v-flash", "wanx2.1-i2v-turbo", "wan2.5-i2v-preview", "wan2.6-i2v")] == [False, False, True, True]
    animate(DashScopeKit(cloud_settings(dashscope_video_model="wan2.5-i2v-preview")), tmp_path)
    animate(DashScopeKit(cloud_settings()), tmp_path)
    first, second = (r.body["parameters"] for r in dashscope.paths("/api/v1/services/aigc/video-generation"))
    assert first["audio"] is False and "audio" not in second
