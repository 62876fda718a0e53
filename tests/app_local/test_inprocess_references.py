"""Reference pictures through the in-process diffusers backend: a tiny random IP-Adapter (with its tiny
CLIP vision encoder), saved in the real on-disk layout and named in the model manifest, is loaded with
the pipeline; keyframes with references follow them, keyframes without still draw."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("diffusers", reason="needs requirements-gpu.txt")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from app_local.inprocess import build_image_generator  # noqa: E402
from story2video.errors import ConfigurationError  # noqa: E402
from story2video.providers.base import CharacterLook, ImageRequest, StageContext  # noqa: E402
from tests.conftest import small_settings  # noqa: E402
from tests.fakes.tiny_pipelines import build_ip_adapter, tiny_models, write_manifest  # noqa: E402

TOM = CharacterLook("Tom", "a young fisherman, short black hair, yellow raincoat")


def _settings(tmp_path: Path, ip_adapter: dict):
    entry = {"stage": "image", "pipeline": "StableDiffusionPipeline", "path": str(tiny_models().image), "dtype": "float16",
             "steps": 2, "guidance": 5.0, "width": 64, "height": 64, "size_multiple": 16, "ip_adapter": ip_adapter}
    manifest = write_manifest(tmp_path / "manifest.json", None, None, **{"tiny-sd-ip": entry})
    return small_settings(tmp_path, diffusers_manifest=manifest, diffusers_device="cpu", diffusers_image_model="tiny-sd-ip")


def _picture(path: Path, colour: tuple[int, int, int]) -> Path:
    pixels = np.zeros((48, 48, 3), dtype=np.uint8)
    pixels[:] = colour
    pixels[12:36, 12:36] = (255 - colour[0], 255 - colour[1], 255 - colour[2])
    Image.fromarray(pixels).save(path)
    return path


def _draw(generator, dest: Path, references: tuple[Path, ...]) -> np.ndarray:
    request = ImageRequest(prompt="Tom on the pier at dawn", subject="Tom", narration="", style="watercolor", width=64, height=48,
                           seed=7, characters=(TOM,) * len(references) or (TOM,), references=references)
    asyncio.run(generator.generate(request, dest, StageContext()))
    with Image.open(dest) as image:
        assert image.size == (64, 48)
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_an_ip_adapter_named_in_the_manifest_steers_the_keyframe_by_its_references(tmp_path):
    adapter = build_ip_adapter(tmp_path / "ip-adapter", tiny_models().image)
    settings = _settings(tmp_path, {"folder": str(adapter), "weight_name": "ip-adapter_tiny.safetensors",
                                    "image_encoder_folder": "image_encoder", "scale": 1.0})
    generator = build_image_generator(settings)
    red, blue = _picture(tmp_path / "red.png", (220, 30, 30)), _picture(tmp_path / "blue.png", (20, 40, 230))

    with_red = _draw(generator, tmp_path / "a.png", (red,))
    again = _draw(generator, tmp_path / "b.png", (red,))
    with_blue = _draw(generator, tmp_path / "c.png", (blue,))
    both = _draw(generator, tmp_path / "d.png", (red, blue))
    without = _draw(generator, tmp_path / "e.png", ())

    assert np.array_equal(with_red, again), "same seed and references: the same picture"
    assert np.abs(with_red - with_blue).mean() > 0.5, "another reference changes the picture"
    assert np.abs(both - with_red).mean() > 0.5, "two references are both used"
    assert np.abs(without - with_red).mean() > 0.5, "a shot without references draws from the text alone"


def test_a_manifest_ip_adapter_without_its_files_is_refused_at_start(tmp_path):
    settings = _settings(tmp_path, {"folder": str(tmp_path / "nowhere"), "weight_name": "ip-adapter.safetensors"})
    with pytest.raises(ConfigurationError, match="ip_adapter weights"):
        build_image_generator(settings)
