"""The local drift check: a tiny random CLIP model folder named in the model manifest is loaded through
the manifest path and scores a picture against references by image-embedding cosine."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

pytest.importorskip("transformers", reason="needs requirements-gpu.txt")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from app_local import build_providers  # noqa: E402
from app_local.likeness import ClipLikenessScorer  # noqa: E402
from story2video.errors import ConfigurationError  # noqa: E402
from story2video.providers.base import StageContext  # noqa: E402
from tests.conftest import small_settings  # noqa: E402
from tests.fakes.tiny_pipelines import build_clip_vision  # noqa: E402


def _build_clip_model(folder: Path) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(3)
    config = CLIPConfig(
        text_config={"hidden_size": 16, "intermediate_size": 32, "num_attention_heads": 2, "num_hidden_layers": 1, "vocab_size": 99},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2,
                       "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(folder, safe_serialization=True)
    return folder


def _manifest(tmp_path: Path, consistency: dict) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"models": {}, "consistency": consistency}), encoding="utf-8")
    return path


def _pictures(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(5)
    base = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    near = np.clip(base.astype(int) + rng.integers(-6, 6, base.shape), 0, 255).astype(np.uint8)
    far = 255 - base[::-1, ::-1]
    paths = {}
    for name, pixels in {"base": base, "near": near, "far": far}.items():
        paths[name] = tmp_path / f"{name}.png"
        Image.fromarray(pixels).save(paths[name])
    return paths


@pytest.mark.parametrize("build", [build_clip_vision, _build_clip_model], ids=["vision-with-projection", "clip-model"])
def test_the_clip_scorer_loads_through_the_manifest_and_scores_by_cosine(tmp_path, build):
    folder = build(tmp_path / "clip")
    settings = small_settings(tmp_path, local_inference=True, diffusers_manifest=_manifest(tmp_path, {"path": "clip"}))
    scorer = build_providers(settings).scorer
    assert isinstance(scorer, ClipLikenessScorer) and scorer.folder == folder.resolve()

    pictures = _pictures(tmp_path)
    score = lambda picture, *refs: asyncio.run(scorer.score(pictures[picture], [pictures[r] for r in refs], StageContext()))  # noqa: E731
    assert score("base", "base") == pytest.approx(1.0, abs=1e-5)
    near, far = score("base", "near"), score("base", "far")
    assert 0.0 <= far < near <= 1.0
    assert score("base", "near", "far") == pytest.approx(far), "with several references, the least alike counts"


def test_a_consistency_entry_without_a_model_is_refused(tmp_path):
    settings = small_settings(tmp_path, local_inference=True, diffusers_manifest=_manifest(tmp_path, {"path": "missing"}))
    with pytest.raises(ConfigurationError, match="consistency"):
        build_providers(settings)


def test_without_a_consistency_entry_local_mode_has_no_clip_scorer(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"models": {}}), encoding="utf-8")
    providers = build_providers(small_settings(tmp_path, local_inference=True, diffusers_manifest=path))
    assert not isinstance(providers.scorer, ClipLikenessScorer)
