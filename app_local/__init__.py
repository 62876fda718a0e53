"""Local GPU mode (LOCAL_INFERENCE=true): Ollama, ComfyUI host pool, diffusers, CosyVoice server.
Builds providers only; the HTTP API lives in story2video.api."""

from __future__ import annotations

from story2video.config import Settings
from story2video.providers.base import Providers
from story2video.providers.registry import BackendRegistry, preview_registry

PREFERRED = {
    "storyboard": ("ollama",),
    "image": ("comfyui", "diffusers"),
    "video": ("comfyui", "diffusers"),
    "speech": ("cosyvoice",),
}


def build_registry() -> BackendRegistry:
    return preview_registry()


def build_providers(settings: Settings) -> Providers:
    return build_registry().build(settings, PREFERRED)
