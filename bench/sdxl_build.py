"""A StableDiffusionXLPipeline with random weights, built offline from architecture configs.

``SDXL`` has the shapes of stabilityai/stable-diffusion-xl-base-1.0 (UNet, both CLIP text encoders,
VAE, Euler scheduler): its parameter counts and FLOPs are those of the real model, its pictures are
noise. ``TINY`` keeps the same classes and block layout at a few hundred thousand weights, so a CPU
run goes through exactly the code a GPU run does. The tokenizers are the tests' generated CLIP
vocabulary (``tests/fakes/tiny_pipelines.py``): nothing is downloaded.

The folder is written with ``save_pretrained`` (safetensors; SDXL in float16 to halve the disk and
the write) and cached under a name that hashes the configs, so a second run loads it at once.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fakes.tiny_pipelines import byte_characters, write_clip_tokenizer_files  # noqa: E402

PIPELINE = "StableDiffusionXLPipeline"
TOKENS = 77  # CLIP's context length
TIME_IDS = 6  # original size, crop corner, target size: SDXL's micro-conditioning
_TOKENIZER_SIZE = 2 * len(byte_characters()) + 2  # bytes, bytes + "</w>", start and end of text
START_ID, END_ID = _TOKENIZER_SIZE - 2, _TOKENIZER_SIZE - 1


@dataclass(frozen=True)
class Architecture:
    name: str
    unet: dict[str, Any]
    text_encoder: dict[str, Any]  # CLIPTextConfig fields
    text_encoder_2: dict[str, Any]
    vae: dict[str, Any]
    scheduler: dict[str, Any]
    saved_dtype: str  # what the weights are written as (the loaders cast them)

    @property
    def latent_factor(self) -> int:
        return 2 ** (len(self.vae["block_out_channels"]) - 1)

    @property
    def size_multiple(self) -> int:
        """Picture sides the UNet can halve at each of its downsamples without a remainder."""
        return self.latent_factor * 2 ** (len(self.unet["block_out_channels"]) - 1)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def _unet(channels: tuple[int, ...], transformer_layers: tuple[int, ...], heads: tuple[int, ...], time_embed_dim: int,
          text_widths: tuple[int, int], pooled_width: int, norm_groups: int, sample_size: int) -> dict[str, Any]:
    """SDXL's UNet layout: a plain first level, cross-attention below it, text_time conditioning."""
    return {
        "sample_size": sample_size, "in_channels": 4, "out_channels": 4, "layers_per_block": 2,
        "block_out_channels": channels, "transformer_layers_per_block": transformer_layers,
        "attention_head_dim": heads,  # diffusers' historical name: these are the numbers of heads
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        "cross_attention_dim": sum(text_widths),  # both encoders' hidden states, concatenated
        "use_linear_projection": True, "norm_num_groups": norm_groups,
        "addition_embed_type": "text_time", "addition_time_embed_dim": time_embed_dim,
        "projection_class_embeddings_input_dim": TIME_IDS * time_embed_dim + pooled_width,
    }


def _text(width: int, layers: int, heads: int, intermediate: int, activation: str, vocabulary: int) -> dict[str, Any]:
    return {
        "hidden_size": width, "num_hidden_layers": layers, "num_attention_heads": heads, "intermediate_size": intermediate,
        "projection_dim": width, "hidden_act": activation, "vocab_size": vocabulary, "max_position_embeddings": TOKENS,
        "bos_token_id": START_ID, "eos_token_id": END_ID, "pad_token_id": END_ID,
    }


def _vae(channels: tuple[int, ...], layers: int, norm_groups: int, sample_size: int) -> dict[str, Any]:
    return {
        "sample_size": sample_size, "in_channels": 3, "out_channels": 3, "latent_channels": 4,
        "block_out_channels": channels, "layers_per_block": layers, "norm_num_groups": norm_groups,
        "down_block_types": ("DownEncoderBlock2D",) * len(channels), "up_block_types": ("UpDecoderBlock2D",) * len(channels),
        "scaling_factor": 0.13025, "force_upcast": True,
    }


EULER = {
    "num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon", "interpolation_type": "linear", "use_karras_sigmas": False,
    "timestep_spacing": "leading", "steps_offset": 1,
}

SDXL = Architecture(
    name="sdxl",
    unet=_unet((320, 640, 1280), (1, 2, 10), (5, 10, 20), time_embed_dim=256, text_widths=(768, 1280), pooled_width=1280,
               norm_groups=32, sample_size=128),
    text_encoder=_text(768, 12, 12, 3072, "quick_gelu", vocabulary=49408),
    text_encoder_2=_text(1280, 32, 20, 5120, "gelu", vocabulary=49408),
    vae=_vae((128, 256, 512, 512), layers=2, norm_groups=32, sample_size=1024),
    scheduler=EULER,
    saved_dtype="float16",
)

TINY = Architecture(
    name="tiny",
    unet=_unet((8, 16, 32), (1, 1, 2), (1, 2, 4), time_embed_dim=8, text_widths=(16, 32), pooled_width=32,
               norm_groups=4, sample_size=8),
    text_encoder=_text(16, 2, 2, 32, "quick_gelu", vocabulary=_TOKENIZER_SIZE),
    text_encoder_2=_text(32, 2, 4, 64, "gelu", vocabulary=_TOKENIZER_SIZE),
    vae=_vae((8, 8, 16, 16), layers=1, norm_groups=4, sample_size=64),
    scheduler=EULER,
    saved_dtype="float32",
)

ARCHITECTURES = {arch.name: arch for arch in (SDXL, TINY)}


def model_builders(arch: Architecture) -> dict[str, Callable[[], Any]]:
    """The pipeline's four networks, each built (randomly initialised) when called."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    return {
        "unet": lambda: UNet2DConditionModel(**arch.unet),
        "text_encoder": lambda: CLIPTextModel(CLIPTextConfig(**arch.text_encoder)),
        "text_encoder_2": lambda: CLIPTextModelWithProjection(CLIPTextConfig(**arch.text_encoder_2)),
        "vae": lambda: AutoencoderKL(**arch.vae),
    }


def parameter_counts(arch: Architecture) -> dict[str, int]:
    """Parameters of each network, counted on the meta device (no memory, no initialisation)."""
    import torch

    counts = {}
    for name, build in model_builders(arch).items():
        with torch.device("meta"):
            model = build()
        counts[name] = sum(parameter.numel() for parameter in model.parameters())
    return counts


def unet_inputs(arch: Architecture, batch: int, height: int, width: int, device: Any, dtype: Any) -> tuple[tuple, dict]:
    """Arguments of one UNet forward for ``batch`` latents of a ``width`` x ``height`` picture."""
    import torch

    factor = arch.latent_factor
    latents = torch.zeros(batch, arch.unet["in_channels"], height // factor, width // factor, device=device, dtype=dtype)
    timesteps = torch.full((batch,), 999, device=device)
    text = torch.zeros(batch, TOKENS, arch.unet["cross_attention_dim"], device=device, dtype=dtype)
    conditions = {
        "text_embeds": torch.zeros(batch, arch.text_encoder_2["projection_dim"], device=device, dtype=dtype),
        "time_ids": torch.zeros(batch, TIME_IDS, device=device, dtype=dtype),
    }
    return (latents, timesteps), {"encoder_hidden_states": text, "added_cond_kwargs": conditions}


def unet_flops(arch: Architecture, batch: int, height: int, width: int) -> int:
    """Matmul and convolution FLOPs of one UNet forward on ``batch`` latents (counted on the meta device)."""
    import torch
    from diffusers import UNet2DConditionModel
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        unet = UNet2DConditionModel(**arch.unet)
    args, kwargs = unet_inputs(arch, batch, height, width, "meta", torch.float32)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        unet(*args, **kwargs)
    return counter.get_total_flops()


def build_pipeline(arch: Architecture, folder: Path) -> Path:
    """Initialise every network in ``saved_dtype`` on the CPU and ``save_pretrained`` the pipeline into ``folder``."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline
    from transformers import CLIPTokenizer

    vocabulary = folder.parent / f"{folder.name}-vocab"
    write_clip_tokenizer_files(vocabulary)
    torch.manual_seed(0)
    with _default_dtype(getattr(torch, arch.saved_dtype)):  # born in that dtype: no float32 copy of the UNet
        models = {name: build() for name, build in model_builders(arch).items()}
    pipe = StableDiffusionXLPipeline(
        **models,
        tokenizer=CLIPTokenizer.from_pretrained(vocabulary, model_max_length=TOKENS),
        tokenizer_2=CLIPTokenizer.from_pretrained(vocabulary, model_max_length=TOKENS),
        scheduler=EulerDiscreteScheduler(**arch.scheduler),
        add_watermarker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    shutil.rmtree(vocabulary)
    return folder


@contextmanager
def _default_dtype(dtype: Any) -> Iterator[None]:
    import torch

    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def cached_pipeline(arch: Architecture, cache: Path) -> Path:
    """The pipeline folder for ``arch`` under ``cache``, built first if it is not there yet."""
    import diffusers

    folder = cache / f"{arch.name}-random-{arch.digest()}-diffusers-{diffusers.__version__}"
    if (folder / "model_index.json").is_file():
        return folder
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    build_pipeline(arch, partial)
    partial.rename(folder)  # a build cut short never passes for a finished one
    return folder
