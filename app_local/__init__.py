"""Local GPU mode (LOCAL_INFERENCE=true): Ollama, ComfyUI host pool, diffusers, CosyVoice server.
Builds providers only; the HTTP API lives in story2video.api."""

from __future__ import annotations

from app_api import refuse_idle_pixverse_options, register_pixverse_backend
from story2video.config import Settings
from story2video.providers.base import Providers
from story2video.providers.registry import BackendRegistry, preview_registry

PREFERRED = {
    "storyboard": ("openai", "ollama"),
    "image": ("comfyui", "diffusers"),
    "video": ("comfyui", "diffusers", "pixverse"),
    "speech": ("cosyvoice",),
    "script": ("ollama",),
}


def _ollama(settings: Settings):
    from app_local.ollama import OllamaStoryboardWriter

    return OllamaStoryboardWriter(settings)


def _ollama_script(settings: Settings):
    from app_local.ollama import ollama_script_writer

    return ollama_script_writer(settings)


def _cosyvoice(settings: Settings):
    from app_local.cosyvoice import CosyVoiceSpeechSynthesizer

    return CosyVoiceSpeechSynthesizer(settings)


def _comfy_image(settings: Settings):
    from app_local.comfy import build_image_generator

    return build_image_generator(settings)


def _comfy_video(settings: Settings):
    from app_local.comfy import build_video_generator

    return build_video_generator(settings)


def _diffusers(stage: str):
    def factory(settings: Settings):
        from app_local import inprocess

        build = inprocess.build_image_generator if stage == "image" else inprocess.build_video_generator
        return build(settings)

    return factory


def _diffusers_configured(stage: str):
    def check(settings: Settings) -> bool:
        from app_local.inprocess import is_configured  # reads the manifest only: no torch

        return is_configured(settings, stage)

    return check


def build_registry() -> BackendRegistry:
    registry = preview_registry()
    registry.register("storyboard", "ollama", _ollama, is_configured=lambda s: bool(s.ollama_url))
    registry.register("script", "ollama", _ollama_script, is_configured=lambda s: bool(s.ollama_url))
    registry.register("image", "comfyui", _comfy_image, is_configured=lambda s: bool(s.comfy_host_list))
    registry.register("video", "comfyui", _comfy_video, is_configured=lambda s: bool(s.comfy_host_list))
    for stage in ("image", "video"):
        registry.register(stage, "diffusers", _diffusers(stage), is_configured=_diffusers_configured(stage))
    registry.register("speech", "cosyvoice", _cosyvoice, is_configured=lambda s: bool(s.cosyvoice_url))
    register_pixverse_backend(registry)  # a cloud service: it animates where no local model does
    return registry


def build_providers(settings: Settings) -> Providers:
    providers = build_registry().build(settings, PREFERRED)
    refuse_idle_pixverse_options(settings, providers)
    _add_consistency_scorer(providers, settings)
    if settings.prompt_refiner_backend == "ollama":
        from app_local.ollama import OllamaPromptRefiner

        providers.refiner = OllamaPromptRefiner(settings)
    return providers


def _add_consistency_scorer(providers: Providers, settings: Settings) -> None:
    """The CLIP drift check when the model manifest names a consistency model (read without torch)."""
    from app_local.inprocess.manifest import consistency_folder

    folder = consistency_folder(settings)
    if folder is not None:
        from app_local.likeness import ClipLikenessScorer

        providers.scorer = ClipLikenessScorer(folder)
