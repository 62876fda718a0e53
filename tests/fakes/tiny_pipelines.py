"""Tiny random diffusers pipelines, built offline from configs and saved in the real on-disk format.

``save_pretrained`` writes safetensors weights, configs and model_index.json, exactly what a user's
downloaded model folder holds, so the backends load them through the same code path. The CLIP
tokenizer is written from a generated vocabulary (the 256 byte characters, their ``</w>`` variants
and the two specials) and an empty merges file, so nothing is downloaded.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

BYTE_RANGES = ((ord("!"), ord("~")), (ord("\xa1"), ord("\xac")), (ord("\xae"), ord("\xff")))
IMAGE_PIPELINE = "StableDiffusionPipeline"
VIDEO_PIPELINE = "StableVideoDiffusionPipeline"


def byte_characters() -> list[str]:
    """GPT-2/CLIP's printable stand-in for each of the 256 byte values."""
    printable = [code for low, high in BYTE_RANGES for code in range(low, high + 1)]
    characters = list(printable)
    extra = 0
    for code in range(256):
        if code not in printable:
            printable.append(code)
            characters.append(256 + extra)
            extra += 1
    return [chr(code) for code in characters]


def write_clip_tokenizer_files(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    characters = byte_characters()
    vocab = {character: index for index, character in enumerate(characters)}
    vocab.update({f"{character}</w>": len(characters) + index for index, character in enumerate(characters)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")


def build_text_to_image(folder: Path) -> Path:
    """A StableDiffusionPipeline of a few thousand weights (VAE factor 8, like the real ones)."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    write_clip_tokenizer_files(folder / "vocab")
    tokenizer = CLIPTokenizer.from_pretrained(folder / "vocab", model_max_length=77)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, norm_num_groups=2,
    )
    vae = AutoencoderKL(
        block_out_channels=[4, 4, 8, 8], in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=2,
        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=len(tokenizer) - 2, eos_token_id=len(tokenizer) - 1, pad_token_id=len(tokenizer) - 1,
        hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2, vocab_size=len(tokenizer),
        max_position_embeddings=77,
    ))
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, image_encoder=None, requires_safety_checker=False,
    )
    target = folder / "tiny-sd"
    pipe.save_pretrained(target)
    return target


def build_image_to_video(folder: Path) -> Path:
    """A StableVideoDiffusionPipeline of tiny random parts (its image encoder sees 224 px, in 7x7 patches)."""
    import torch
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=8, in_channels=8, out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=32, num_attention_heads=8, projection_class_embeddings_input_dim=96, addition_time_embed_dim=32,
    )
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=[32, 32, 32, 32], in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=["DownEncoderBlock2D"] * 4,
    )
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4, image_size=224, intermediate_size=37, patch_size=32,
    ))
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", interpolation_type="linear", num_train_timesteps=1000,
        prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002, steps_offset=1, timestep_spacing="leading",
        timestep_type="continuous", use_karras_sigmas=True,
    )
    pipe = StableVideoDiffusionPipeline(
        unet=unet, image_encoder=image_encoder, scheduler=scheduler, vae=vae,
        feature_extractor=CLIPImageProcessor(crop_size=224, size=224),
    )
    target = folder / "tiny-svd"
    pipe.save_pretrained(target)
    return target


def write_manifest(path: Path, image_folder: Path | None, video_folder: Path | None, **overrides: dict) -> Path:
    """A manifest naming the tiny models ("tiny-sd" for images, "tiny-svd" for clips); ``overrides``
    maps a model name to fields that replace or extend its entry."""
    models: dict[str, dict] = {}
    if image_folder is not None:
        models["tiny-sd"] = {
            "stage": "image", "pipeline": IMAGE_PIPELINE, "path": str(image_folder), "dtype": "float16",
            "steps": 2, "guidance": 5.0, "width": 64, "height": 64, "size_multiple": 16, "max_batch": 8,
        }
    if video_folder is not None:
        models["tiny-svd"] = {
            "stage": "video", "pipeline": VIDEO_PIPELINE, "path": str(video_folder), "dtype": "float16",
            "steps": 2, "guidance": 2.5, "width": 64, "height": 48, "size_multiple": 16,
            "max_frames": 6, "max_fps": 6, "call_kwargs": {"decode_chunk_size": 8, "motion_bucket_id": 100},
        }
    for name, fields in overrides.items():
        models.setdefault(name, {}).update(fields)
    manifest = {"image": "tiny-sd" if image_folder else "", "video": "tiny-svd" if video_folder else "", "models": models}
    path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return path


@dataclass(frozen=True)
class TinyModels:
    image: Path
    video: Path


@lru_cache(maxsize=1)
def tiny_models() -> TinyModels:
    """Both tiny pipelines, built once per test process into a temporary folder removed at exit.

    Also puts torch on one CPU thread: models this small gain nothing from more, and on a busy
    machine (CI) its worker threads spin against each other and make each call ~50x slower.
    """
    import torch

    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="tiny-diffusers-"))
    atexit.register(shutil.rmtree, root, True)
    return TinyModels(image=build_text_to_image(root), video=build_image_to_video(root))


def build_clip_vision(folder: Path, projection_dim: int = 16) -> Path:
    """A tiny random CLIPVisionModelWithProjection, saved as a real model folder (config + safetensors)."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(1)
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2, image_size=32, patch_size=8,
        projection_dim=projection_dim,
    ))
    encoder.save_pretrained(folder, safe_serialization=True)
    return folder


def build_ip_adapter(folder: Path, pipeline_folder: Path, weight_name: str = "ip-adapter_tiny.safetensors") -> Path:
    """A tiny random IP-Adapter for the tiny UNet in ``pipeline_folder``, in the on-disk layout of
    h94/IP-Adapter: ``weight_name`` (``image_proj.*`` = ImageProjection of 4 tokens, ``ip_adapter.<n>.to_k_ip``
    / ``to_v_ip`` for each cross-attention, n = 1, 3, 5, ... in the UNet's processor order) beside its
    CLIP vision encoder in ``image_encoder/``."""
    import torch
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file

    unet = UNet2DConditionModel.from_pretrained(pipeline_folder / "unet")
    encoder = build_clip_vision(folder / "image_encoder")
    cross, tokens = unet.config.cross_attention_dim, 4
    embed = json.loads((encoder / "config.json").read_text())["projection_dim"]
    generator = torch.Generator().manual_seed(2)
    tensors = {
        "image_proj.proj.weight": torch.randn(tokens * cross, embed, generator=generator) * 0.5,
        "image_proj.proj.bias": torch.zeros(tokens * cross),
        "image_proj.norm.weight": torch.ones(cross),
        "image_proj.norm.bias": torch.zeros(cross),
    }
    key_id = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        attention = unet.get_submodule(name.removesuffix(".processor"))
        hidden = attention.to_k.weight.shape[0]
        for projection in ("to_k_ip", "to_v_ip"):
            tensors[f"ip_adapter.{key_id}.{projection}.weight"] = torch.randn(hidden, cross, generator=generator) * 0.5
        key_id += 2
    save_file({key: value.contiguous() for key, value in tensors.items()}, str(folder / weight_name))
    return folder
