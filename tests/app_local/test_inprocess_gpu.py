"""The in-process backends on a real CUDA device (skipped without one): half precision, offload, compile."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import pytest

pytest.importorskip("diffusers", reason="needs requirements-gpu.txt")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from diffusers import StableDiffusionPipeline  # noqa: E402
from PIL import Image  # noqa: E402

from app_local.inprocess import build_image_generator, build_video_generator  # noqa: E402
from story2video.providers.base import ClipRequest, ImageRequest, StageContext  # noqa: E402
from tests.conftest import small_settings  # noqa: E402
from tests.fakes.tiny_pipelines import tiny_models, write_manifest  # noqa: E402

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _settings(tmp_path: Path, **overrides):
    models = tiny_models()
    manifest = write_manifest(tmp_path / "manifest.json", models.image, models.video)
    return small_settings(tmp_path, diffusers_manifest=manifest, diffusers_device="cuda", **overrides)


def _request(seed: int) -> ImageRequest:
    return ImageRequest(prompt="a red kite", subject="kite", narration="", style="", width=96, height=64, seed=seed)


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


@pytest.fixture
def dtypes(monkeypatch) -> list[torch.dtype]:
    seen: list[torch.dtype] = []
    original = StableDiffusionPipeline.__call__

    @functools.wraps(original)  # keeps the signature the backend inspects
    def call(pipe, *args, **kwargs):
        seen.append(pipe.unet.dtype)
        return original(pipe, *args, **kwargs)

    monkeypatch.setattr(StableDiffusionPipeline, "__call__", call)
    return seen


@pytest.mark.parametrize("overrides", [{}, {"diffusers_cpu_offload": True}, {"diffusers_compile": True}], ids=["plain", "offload", "compile"])
def test_half_precision_batches_match_single_images_on_cuda(tmp_path, dtypes, overrides):
    generator = build_image_generator(_settings(tmp_path, **overrides))
    seeds = (1, 2, 3)

    async def batch() -> None:
        await asyncio.gather(*(generator.generate(_request(seed), tmp_path / f"b{seed}.png", StageContext()) for seed in seeds))

    asyncio.run(batch())
    for seed in seeds:
        asyncio.run(generator.generate(_request(seed), tmp_path / f"s{seed}.png", StageContext()))
        assert np.abs(_pixels(tmp_path / f"b{seed}.png") - _pixels(tmp_path / f"s{seed}.png")).max() <= 2
    assert set(dtypes) <= {torch.float16, torch.bfloat16} and dtypes
    assert "cuda" in asyncio.run(generator.status()).location


def test_a_clip_on_cuda(tmp_path):
    keyframe = tmp_path / "k.png"
    Image.new("RGB", (320, 180), (10, 90, 200)).save(keyframe)
    generator = build_video_generator(_settings(tmp_path))
    request = ClipRequest(keyframe=keyframe, prompt="", camera="static", duration=1.0, width=320, height=180, fps=6, seed=3)
    clip = asyncio.run(generator.animate(request, tmp_path / "c.mp4", StageContext()))
    assert clip.duration == pytest.approx(1.0, abs=0.02)


def test_auto_dtype_follows_each_devices_compute_capability():
    from app_local.inprocess.libraries import gpu_libraries
    from app_local.inprocess.loading import torch_dtype
    from app_local.inprocess.manifest import ModelSpec

    spec = ModelSpec(name="any", stage="image", pipeline="StableDiffusionPipeline", path=Path("."), dtype="auto")
    for index in range(torch.cuda.device_count()):
        native = torch.cuda.get_device_capability(index)[0] >= 8
        assert torch_dtype(gpu_libraries(), spec, f"cuda:{index}") == (torch.bfloat16 if native else torch.float16)


def test_an_out_of_memory_in_svds_real_upcast_encode_does_not_stick(tmp_path, monkeypatch):
    """diffusers itself casts the fp16 VAE to float32 around the keyframe's encode; fail inside it once."""
    from diffusers import AutoencoderKLTemporalDecoder

    encode = AutoencoderKLTemporalDecoder.encode
    seen: list[torch.dtype] = []

    def failing_once(self, *args, **kwargs):
        seen.append(self.dtype)
        if len(seen) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 3.00 GiB")
        return encode(self, *args, **kwargs)

    monkeypatch.setattr(AutoencoderKLTemporalDecoder, "encode", failing_once)
    keyframe = tmp_path / "k.png"
    Image.new("RGB", (320, 180), (10, 90, 200)).save(keyframe)
    generator = build_video_generator(_settings(tmp_path))
    request = ClipRequest(keyframe=keyframe, prompt="", camera="static", duration=1.0, width=320, height=180, fps=6, seed=3)
    with pytest.raises(Exception, match="out of memory"):
        asyncio.run(generator.animate(request, tmp_path / "a.mp4", StageContext()))
    clip = asyncio.run(generator.animate(request, tmp_path / "b.mp4", StageContext()))
    assert seen[:2] == [torch.float32, torch.float32]  # upcast by diffusers both times, so cast back in between
    assert clip.duration == pytest.approx(1.0, abs=0.02)
