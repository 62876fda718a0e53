"""bench/sdxl_build.py: the SDXL configs give the real model's sizes, and the FLOP count sees attention."""

from __future__ import annotations

import pytest

pytest.importorskip("diffusers", reason="needs requirements-gpu.txt")
pytest.importorskip("transformers", reason="needs requirements-gpu.txt")

import torch  # noqa: E402
from diffusers import UNet2DConditionModel  # noqa: E402
from diffusers.models.attention_processor import AttnProcessor  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from bench.sdxl_build import SDXL, TINY, parameter_counts, unet_flops, unet_inputs  # noqa: E402

# stabilityai/stable-diffusion-xl-base-1.0, as published
REAL_SDXL_BASE = {"unet": 2.567e9, "text_encoder": 123.06e6, "text_encoder_2": 694.66e6, "vae": 83.65e6}


def test_the_sdxl_configs_have_the_real_models_parameter_counts():
    counts = parameter_counts(SDXL)
    assert set(counts) == set(REAL_SDXL_BASE)
    for name, real in REAL_SDXL_BASE.items():
        assert counts[name] == pytest.approx(real, rel=0.01), name


def test_tiny_keeps_the_sdxl_layout_at_under_a_million_weights():
    assert sum(parameter_counts(TINY).values()) < 1_000_000
    for key in ("down_block_types", "up_block_types", "layers_per_block", "addition_embed_type", "use_linear_projection"):
        assert TINY.unet[key] == SDXL.unet[key], key
    assert TINY.latent_factor == SDXL.latent_factor == 8


def test_the_meta_count_equals_a_real_forward_with_explicit_attention_matmuls():
    """FlopCounterMode has no formula for every SDPA kernel (e.g. the CPU one); the count on the meta
    device must still include attention, as a forward through plain ``AttnProcessor`` (bmm) does."""
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**TINY.unet)
    unet.set_attn_processor(AttnProcessor())
    args, kwargs = unet_inputs(TINY, 2, 64, 64, "cpu", torch.float32)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        unet(*args, **kwargs)
    counts = counter.get_flop_counts()["Global"]
    assert counts.get(torch.ops.aten.bmm, 0) + counts.get(torch.ops.aten.baddbmm, 0) > 0
    assert unet_flops(TINY, 2, 64, 64) == counter.get_total_flops()


def test_the_count_grows_with_the_batch_and_the_picture():
    one = unet_flops(TINY, 1, 64, 64)
    assert one > 0
    assert unet_flops(TINY, 2, 64, 64) == 2 * one
    assert unet_flops(TINY, 1, 128, 128) > 2 * one  # 4x the pixels; the text projections stay the same
