"""Backends register under (stage, name); settings pick one per stage. Built-in and optional backends
register the same way, and heavy imports happen inside the factories, only when a backend is chosen."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence

from loguru import logger

from story2video.config import Settings
from story2video.errors import ConfigurationError
from story2video.providers.base import Providers

Stage = Literal["storyboard", "image", "video", "speech", "script"]
STAGES: tuple[Stage, ...] = ("storyboard", "image", "video", "speech", "script")
Factory = Callable[[Settings], object]
IsConfigured = Callable[[Settings], bool]


@dataclass
class _Entry:
    factory: Factory
    is_configured: IsConfigured


def _always(_: Settings) -> bool:
    return True


@dataclass
class BackendRegistry:
    entries: dict[tuple[str, str], _Entry] = field(default_factory=dict)

    def register(self, stage: Stage, name: str, factory: Factory, is_configured: IsConfigured = _always) -> None:
        self.entries[(stage, name)] = _Entry(factory, is_configured)

    def names(self, stage: Stage) -> list[str]:
        return sorted(name for (entry_stage, name) in self.entries if entry_stage == stage)

    def choose(self, stage: Stage, settings: Settings, preferred: Sequence[str]) -> str:
        """The backend named in settings; for "auto" the first preferred one that is built and configured."""
        configured = getattr(settings, f"{stage}_backend")
        if configured != "auto":
            if (stage, configured) not in self.entries:
                raise ConfigurationError(
                    f"{stage.upper()}_BACKEND={configured} is not available in this build "
                    f"(available: {', '.join(self.names(stage))}, or auto)"
                )
            return configured
        for name in preferred:
            entry = self.entries.get((stage, name))
            if entry is not None and entry.is_configured(settings):
                return name
        return "preview"

    def build(self, settings: Settings, preferred: dict[Stage, Sequence[str]]) -> Providers:
        chosen = {stage: self.choose(stage, settings, preferred.get(stage, ())) for stage in STAGES}
        for stage, name in chosen.items():
            logger.info("{} stage uses backend '{}'", stage, name)
        built = {stage: self.entries[(stage, name)].factory(settings) for stage, name in chosen.items()}
        providers = Providers(
            storyboard=built["storyboard"], image=built["image"], video=built["video"], speech=built["speech"], script=built["script"]
        )
        if chosen["image"] == "preview":
            from story2video.providers.preview.likeness import ColourLikenessScorer

            providers.scorer = ColourLikenessScorer()  # title cards get the stand-in drift check
        return providers


def preview_registry() -> BackendRegistry:
    """A registry holding the built-in backends of both modes (preview, and a storyboard writer on any
    OpenAI-compatible endpoint); provider packages add their own to it."""
    registry = BackendRegistry()
    register_preview_backends(registry)
    register_openai_backend(registry)
    return registry


def register_openai_backend(registry: BackendRegistry) -> None:
    def storyboard(settings: Settings):
        from story2video.providers.openai_chat import OpenAIStoryboardWriter

        if not (settings.openai_base_url and settings.openai_model):
            raise ConfigurationError("STORYBOARD_BACKEND=openai needs OPENAI_BASE_URL and OPENAI_MODEL (docs/configuration.md)")
        return OpenAIStoryboardWriter(settings)

    registry.register("storyboard", "openai", storyboard, is_configured=lambda s: bool(s.openai_base_url and s.openai_model))


def register_preview_backends(registry: BackendRegistry) -> None:
    """The built-in preview backends: no model, key or network."""

    def storyboard(settings: Settings):
        from story2video.providers.preview.storyboard import PreviewStoryboardWriter

        return PreviewStoryboardWriter(max_shot_seconds=settings.max_shot_seconds)

    def image(settings: Settings):
        from story2video.media.fonts import resolve_cjk_font
        from story2video.providers.preview.keyframe import TitleCardPainter

        return TitleCardPainter(resolve_cjk_font(settings.font_path))

    def video(_: Settings):
        from story2video.providers.preview.clip import KenBurnsClipMaker

        return KenBurnsClipMaker()

    def speech(_: Settings):
        from story2video.providers.preview.speech import EspeakSpeechSynthesizer

        return EspeakSpeechSynthesizer()

    def script(settings: Settings):
        from story2video.providers.preview.script import PreviewScriptWriter

        return PreviewScriptWriter(delay_s=settings.script_preview_delay_s)

    registry.register("storyboard", "preview", storyboard)
    registry.register("script", "preview", script)
    registry.register("image", "preview", image)
    registry.register("video", "preview", video)
    registry.register("speech", "preview", speech)
