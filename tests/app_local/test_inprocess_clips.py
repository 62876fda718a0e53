"""Clips from a tiny random StableVideoDiffusionPipeline, and a whole render on the in-process backends."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

pytest.importorskip("diffusers", reason="needs requirements-gpu.txt")

import av  # noqa: E402
import torch  # noqa: E402
from diffusers import AutoencoderKLTemporalDecoder, UNetSpatioTemporalConditionModel  # noqa: E402
from PIL import Image  # noqa: E402

import app_local  # noqa: E402
from app_local.inprocess import build_image_generator, build_video_generator  # noqa: E402
from app_local.inprocess.clips import GENERATION_SHARE  # noqa: E402
from story2video.errors import BackendError, OperationCancelled  # noqa: E402
from story2video.providers.base import ClipRequest, StageContext  # noqa: E402
from tests import mediacheck  # noqa: E402
from tests.api.test_seed_flow import RENDER  # noqa: E402
from tests.conftest import create_body, small_settings  # noqa: E402
from tests.fakes.tiny_pipelines import tiny_models, write_manifest  # noqa: E402


def _settings(tmp_path: Path, **fields):
    models = tiny_models()
    manifest = write_manifest(tmp_path / "manifest.json", models.image, models.video, **({"tiny-svd-custom": {
        "stage": "video", "pipeline": "StableVideoDiffusionPipeline", "path": str(models.video), "steps": 2,
        "width": 64, "height": 48, "size_multiple": 16, "max_frames": 6, "max_fps": 6, **fields,
    }} if fields else {}))
    video_model = "tiny-svd-custom" if fields else ""
    return small_settings(tmp_path, diffusers_manifest=manifest, diffusers_device="cpu", diffusers_video_model=video_model)


def _keyframe(tmp_path: Path) -> Path:
    path = tmp_path / "keyframe.png"
    Image.new("RGB", (320, 180), (200, 120, 40)).save(path)
    return path


def _request(keyframe: Path, duration: float = 2.0, fps: int = 12) -> ClipRequest:
    return ClipRequest(keyframe=keyframe, prompt="waves roll in", camera="static", duration=duration, width=320, height=180, fps=fps, seed=7)


def _frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_a_clip_is_an_h264_mp4_with_its_measured_duration(tmp_path):
    generator = build_video_generator(_settings(tmp_path))
    reported: list[float] = []
    clip = asyncio.run(generator.animate(_request(_keyframe(tmp_path)), tmp_path / "clip.mp4", StageContext(progress=reported.append)))
    info = mediacheck.streams(clip.path)
    assert (clip.path, info.video_codec) == (tmp_path / "clip.mp4", "h264")
    assert (info.width, info.height) == (80, 48)  # 16:9 at the model's 64x48 pixels, multiples of 16; the composer scales
    assert _frame_count(clip.path) == 6  # max_frames, at max_fps 6
    assert clip.duration == pytest.approx(1.0, abs=0.02)
    assert reported[-1] == 1.0 and GENERATION_SHARE in reported


def test_a_short_narration_gets_fewer_frames(tmp_path):
    generator = build_video_generator(_settings(tmp_path))
    clip = asyncio.run(generator.animate(_request(_keyframe(tmp_path), duration=0.5), tmp_path / "clip.mp4", StageContext()))
    assert _frame_count(clip.path) == 3 and clip.duration == pytest.approx(0.5, abs=0.02)


def test_cancelling_stops_a_pipeline_without_an_interrupt_flag(tmp_path, monkeypatch):
    denoised: list[int] = []
    forward = UNetSpatioTemporalConditionModel.forward

    def counting_forward(self, *args, **kwargs):
        denoised.append(1)
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(UNetSpatioTemporalConditionModel, "forward", counting_forward)
    generator = build_video_generator(_settings(tmp_path, steps=5))
    ctx = StageContext(is_cancelled=lambda: len(denoised) >= 1)
    with pytest.raises(OperationCancelled):
        asyncio.run(generator.animate(_request(_keyframe(tmp_path)), tmp_path / "clip.mp4", ctx))
    assert not (tmp_path / "clip.mp4").exists()
    asyncio.run(generator.animate(_request(_keyframe(tmp_path)), tmp_path / "after.mp4", StageContext()))
    assert len(denoised) == 1 + 5  # the cancelled clip stopped after one step; the device then ran the next


def test_a_failure_inside_the_upcast_image_encode_leaves_the_pipeline_usable(tmp_path, monkeypatch):
    """SVD casts an fp16 VAE up to float32 to encode the keyframe and back after; a failure in between must not stick."""
    encode = AutoencoderKLTemporalDecoder.encode
    seen: list[torch.dtype] = []

    def failing_once(self, *args, **kwargs):
        seen.append(self.dtype)
        if len(seen) == 1:
            self.to(dtype=torch.float64)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 3.00 GiB")
        return encode(self, *args, **kwargs)

    monkeypatch.setattr(AutoencoderKLTemporalDecoder, "encode", failing_once)
    generator = build_video_generator(_settings(tmp_path))
    with pytest.raises(BackendError, match="out of memory on cpu even for a single clip"):
        asyncio.run(generator.animate(_request(_keyframe(tmp_path)), tmp_path / "first.mp4", StageContext()))
    clip = asyncio.run(generator.animate(_request(_keyframe(tmp_path)), tmp_path / "second.mp4", StageContext()))
    assert seen[:2] == [torch.float32, torch.float32] and clip.duration > 0


def test_an_unreadable_keyframe_is_a_backend_error(tmp_path):
    generator = build_video_generator(_settings(tmp_path))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(BackendError, match="is not a readable image") as caught:
        asyncio.run(generator.animate(_request(broken), tmp_path / "clip.mp4", StageContext()))
    assert caught.value.stage == "clips"


def test_a_render_on_the_in_process_backends_makes_an_mp4(make_client, tmp_path):
    overrides = {
        "local_inference": True, "image_backend": "diffusers", "video_backend": "diffusers",
        "storyboard_backend": "preview", "speech_backend": "preview", "diffusers_device": "cpu",
        "diffusers_manifest": write_manifest(tmp_path / "manifest.json", tiny_models().image, tiny_models().video),
    }
    registry = app_local.build_registry()
    registry.register("image", "diffusers", build_image_generator)
    registry.register("video", "diffusers", build_video_generator)
    client = make_client(providers=registry.build(small_settings(tmp_path, **overrides), app_local.PREFERRED), **overrides)

    created = client.post("/api/v1/storyboard/create", json=create_body())
    assert created.status_code == 200, created.text
    rendered = client.post("/api/v1/video/render", json=RENDER)
    assert rendered.status_code == 200, rendered.text
    info = mediacheck.streams(client.get(rendered.json()["video_url"]).content)
    assert (info.video_codec, info.width, info.height) == ("h264", 320, 180) and info.duration > 0
    shots = client.get("/api/v1/stories/story-001", params={"user_id": "u-001"}).json()["shots"]
    assert {shot["artifacts"]["image"]["backend"] for shot in shots} == {"diffusers"}
    for shot in shots:
        with Image.open(io.BytesIO(client.get(shot["image_url"]).content)) as image:
            assert image.size == (320, 180)
    clips = client.app.state.engine.deps.stories.db.fetch_all("SELECT backend, model FROM artifacts WHERE kind='clip'")
    assert len(clips) == len(shots) and {(row["backend"], row["model"]) for row in clips} == {("diffusers", "tiny-svd")}
    backends = {b["stage"]: b for b in client.get("/ready").json()["backends"]}
    assert (backends["keyframes"]["model"], backends["clips"]["model"]) == ("tiny-sd", "tiny-svd")
