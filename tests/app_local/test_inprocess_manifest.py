"""The diffusers backends' build-time checks: manifest, model folders, pipeline classes, GPU packages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("diffusers", reason="needs requirements-gpu.txt")

from app_local.inprocess import build_image_generator, build_video_generator, is_configured  # noqa: E402
from app_local.inprocess.libraries import gpu_libraries  # noqa: E402
from app_local.inprocess.loading import pipeline_class  # noqa: E402
from app_local.inprocess.manifest import model_spec, read_manifest  # noqa: E402
from story2video.errors import ConfigurationError  # noqa: E402
from tests.conftest import small_settings  # noqa: E402
from tests.fakes.tiny_pipelines import tiny_models, write_manifest  # noqa: E402
from tests.serverproc import ROOT  # noqa: E402


def _settings(tmp_path: Path, manifest: Path, **overrides):
    return small_settings(tmp_path, diffusers_manifest=manifest, diffusers_device="cpu", **overrides)


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    models = tiny_models()
    return write_manifest(tmp_path / "manifest.json", models.image, models.video)


def test_a_valid_manifest_builds_both_generators(tmp_path, manifest):
    settings = _settings(tmp_path, manifest)
    assert is_configured(settings, "image") and is_configured(settings, "video")
    assert (build_image_generator(settings).model, build_video_generator(settings).model) == ("tiny-sd", "tiny-svd")


def test_without_a_manifest_no_stage_is_configured(tmp_path):
    settings = _settings(tmp_path, tmp_path / "absent.json")
    assert not is_configured(settings, "image") and not is_configured(settings, "video")
    with pytest.raises(ConfigurationError, match="absent.json does not exist"):
        build_image_generator(settings)


def test_a_model_named_in_settings_counts_as_configured(tmp_path):
    settings = _settings(tmp_path, tmp_path / "absent.json", diffusers_video_model="svd")
    assert is_configured(settings, "video") and not is_configured(settings, "image")


def test_an_unknown_model_stops_the_build(tmp_path, manifest):
    with pytest.raises(ConfigurationError, match=r"model 'sdxl'.*no such model \(the manifest has: tiny-sd, tiny-svd\)"):
        build_image_generator(_settings(tmp_path, manifest, diffusers_image_model="sdxl"))


def test_a_model_of_the_other_stage_stops_the_build(tmp_path, manifest):
    with pytest.raises(ConfigurationError, match="is for stage 'video', not 'image'"):
        build_image_generator(_settings(tmp_path, manifest, diffusers_image_model="tiny-svd"))


def test_a_missing_folder_stops_the_build(tmp_path):
    manifest = write_manifest(tmp_path / "m.json", tmp_path / "nowhere", None)
    with pytest.raises(ConfigurationError, match="nowhere does not exist"):
        build_image_generator(_settings(tmp_path, manifest))


def test_a_folder_holding_another_pipeline_stops_the_build(tmp_path):
    models = tiny_models()
    manifest = write_manifest(tmp_path / "m.json", models.video, None)  # an SVD folder listed as StableDiffusionPipeline
    with pytest.raises(ConfigurationError, match="says pipeline StableDiffusionPipeline, but .* holds a StableVideoDiffusionPipeline"):
        build_image_generator(_settings(tmp_path, manifest))


def test_a_class_diffusers_does_not_have_stops_the_build(tmp_path):
    folder = tmp_path / "fake"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "MadeUpPipeline"}))
    manifest = write_manifest(tmp_path / "m.json", folder, None, **{"tiny-sd": {"pipeline": "MadeUpPipeline"}})
    with pytest.raises(ConfigurationError, match="has no pipeline class MadeUpPipeline"):
        build_image_generator(_settings(tmp_path, manifest))


def test_an_image_to_video_class_cannot_draw_keyframes(tmp_path):
    folder = tmp_path / "i2v"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableVideoDiffusionPipeline"}))
    manifest = write_manifest(tmp_path / "m.json", folder, None, **{"tiny-sd": {"pipeline": "StableVideoDiffusionPipeline"}})
    with pytest.raises(ConfigurationError, match="is not a text-to-image pipeline: its call takes no prompt"):
        build_image_generator(_settings(tmp_path, manifest))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"dtype": "float8"}, "dtype must be one of"),
        ({"steps": 0}, "steps must be a positive integer"),
        ({"max_batch": 0}, "max_batch must be a positive integer"),
        ({"guidance": "high"}, "guidance must be a number"),
        ({"sampler": "euler"}, "unknown field"),
        ({"variant": "../fp16"}, "variant must be a name such as"),
        ({"vae_tiling": "yes"}, "vae_tiling"),
    ],
)
def test_bad_entry_fields_are_named(tmp_path, fields, message):
    manifest = write_manifest(tmp_path / "m.json", tiny_models().image, None, **{"tiny-sd": fields})
    with pytest.raises(ConfigurationError, match=message):
        build_image_generator(_settings(tmp_path, manifest))


def test_unreadable_manifest_json_is_reported(tmp_path):
    manifest = tmp_path / "m.json"
    manifest.write_text("{not json")
    with pytest.raises(ConfigurationError, match="is not readable JSON"):
        is_configured(_settings(tmp_path, manifest), "image")


@pytest.mark.parametrize("missing", ["torch", "diffusers"])
def test_a_missing_gpu_package_names_requirements_gpu(tmp_path, manifest, monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import <missing>` raise ImportError
    with pytest.raises(ConfigurationError, match=rf"needs the Python package '{missing}'.*requirements-gpu\.txt"):
        build_video_generator(_settings(tmp_path, manifest))


def test_cuda_requested_without_a_device_stops_the_build(tmp_path, manifest):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(ConfigurationError, match="DIFFUSERS_DEVICE=cuda, but torch sees no CUDA device"):
        build_image_generator(small_settings(tmp_path, diffusers_manifest=manifest, diffusers_device="cuda"))


def test_importing_the_local_providers_imports_no_gpu_package():
    code = (
        "import sys, app_local, app_local.inprocess\n"
        "from app_local.inprocess import is_configured\n"
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers', 'accelerate') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_the_example_manifest_names_real_pipelines_of_the_right_kind(tmp_path):
    example = json.loads((ROOT / "models" / "manifest.example.json").read_text(encoding="utf-8"))
    for entry in example["models"].values():
        (tmp_path / entry["path"]).mkdir()
        (tmp_path / entry["path"] / "model_index.json").write_text(json.dumps({"_class_name": entry["pipeline"]}))
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(example))
    libraries = gpu_libraries()
    for name, entry in example["models"].items():
        pipeline_class(libraries, model_spec(read_manifest(manifest), name, entry["stage"]))
    assert {example["image"], example["video"]} <= set(example["models"])


def _fp16_variant_copy(tmp_path: Path, with_plain_files: bool) -> Path:
    """The tiny pipeline saved as *.fp16.safetensors (the plain files too, when asked: a full snapshot)."""
    from diffusers import StableDiffusionPipeline

    folder = tmp_path / "variant-sd"
    pipe = StableDiffusionPipeline.from_pretrained(tiny_models().image, local_files_only=True)
    pipe.save_pretrained(folder, variant="fp16")
    if with_plain_files:
        pipe.save_pretrained(folder)
    return folder


def _variant_settings(tmp_path: Path, folder: Path, **fields):
    manifest = write_manifest(tmp_path / "m.json", folder, None, **{"tiny-sd": fields})
    return _settings(tmp_path, manifest)


def _draw(generator, dest: Path) -> None:
    import asyncio

    from story2video.providers.base import ImageRequest, StageContext

    request = ImageRequest(prompt="a bridge", subject="bridge", narration="", style="", width=64, height=64, seed=1)
    asyncio.run(generator.generate(request, dest, StageContext()))


def test_a_folder_of_variant_weights_loads_with_its_variant(tmp_path):
    folder = _fp16_variant_copy(tmp_path, with_plain_files=False)
    assert not list(folder.glob("unet/diffusion_pytorch_model.safetensors"))
    with pytest.raises(ConfigurationError, match=r'holds only fp16 weights .*add "variant": "fp16"'):
        build_image_generator(_variant_settings(tmp_path, folder))
    generator = build_image_generator(_variant_settings(tmp_path, folder, variant="fp16"))
    _draw(generator, tmp_path / "k.png")
    assert (tmp_path / "k.png").exists()


def test_a_full_snapshot_reads_only_the_variant_files(tmp_path):
    folder = _fp16_variant_copy(tmp_path, with_plain_files=True)
    for plain in folder.glob("*/*.safetensors"):
        if ".fp16." not in plain.name:
            plain.write_bytes(b"not safetensors")  # were these read, the load would fail
    generator = build_image_generator(_variant_settings(tmp_path, folder, variant="fp16", dtype="bfloat16"))
    _draw(generator, tmp_path / "k.png")
    assert (tmp_path / "k.png").exists()
    with pytest.raises(ConfigurationError, match='"variant": "bf16", but .* holds variant\\(s\\) fp16'):
        build_image_generator(_variant_settings(tmp_path, folder, variant="bf16"))
