"""Cloud mode (LOCAL_INFERENCE=false): DashScope stages and optional OSS. Builds providers only; the
HTTP API lives in story2video.api. Never imports torch."""

from __future__ import annotations

from story2video.config import Settings
from story2video.providers.base import Providers
from story2video.providers.registry import BackendRegistry, preview_registry

# Stage -> backends tried in order when the stage's setting is "auto" (the first built and configured wins).
PREFERRED = {stage: ("dashscope",) for stage in ("storyboard", "image", "video", "speech")}


def build_registry() -> BackendRegistry:
    return preview_registry()


def build_providers(settings: Settings) -> Providers:
    return build_registry().build(settings, PREFERRED)
