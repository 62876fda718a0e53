"""Cloud mode (LOCAL_INFERENCE=false): DashScope stages and optional OSS. Builds providers only; the
HTTP API lives in story2video.api. Never imports torch."""

from __future__ import annotations

from story2video.config import Settings
from story2video.errors import ConfigurationError
from story2video.providers.base import Providers
from story2video.providers.registry import BackendRegistry, preview_registry
from story2video.storage.publish import PUBLISHER_EXTRA

# Stage -> backends tried in order when the stage's setting is "auto" (the first built and configured wins).
PREFERRED = {stage: ("dashscope",) for stage in ("storyboard", "image", "video", "speech", "script")}
PREFERRED["storyboard"] = ("dashscope", "openai")
PREFERRED["image"] = ("dashscope", "volcengine")
PREFERRED["video"] = ("dashscope", "pixverse")


def _dashscope_configured(settings: Settings) -> bool:
    return bool(settings.dashscope_api_key)


def register_dashscope_backends(registry: BackendRegistry) -> None:
    """The DashScope backends (four stages and the script writer); the ones a build chooses share one client, chat model and probe."""
    latest: list = []  # the kit of the settings being built (one per build of the providers)

    def kit(settings: Settings):
        from app_api.dashscope.backends import DashScopeKit

        if not latest or latest[0].settings is not settings:
            latest[:] = [DashScopeKit(settings)]
        return latest[0]

    registry.register("storyboard", "dashscope", lambda s: kit(s).storyboard(), is_configured=_dashscope_configured)
    registry.register("image", "dashscope", lambda s: kit(s).image(), is_configured=_dashscope_configured)
    registry.register("video", "dashscope", lambda s: kit(s).video(), is_configured=_dashscope_configured)
    registry.register("speech", "dashscope", lambda s: kit(s).speech(), is_configured=_dashscope_configured)
    registry.register("script", "dashscope", lambda s: kit(s).script(), is_configured=_dashscope_configured)


def _volcengine_image(settings: Settings):
    from app_api.volcengine import VolcengineImageGenerator

    return VolcengineImageGenerator(settings)


def _pixverse_video(settings: Settings):
    from app_api.pixverse import PixVerseVideoGenerator

    return PixVerseVideoGenerator(settings)


def register_pixverse_backend(registry: BackendRegistry) -> None:
    """PixVerse clips, offered in both modes (local mode uses it where no local model animates)."""
    registry.register("video", "pixverse", _pixverse_video, is_configured=lambda s: bool(s.pixverse_api_key))


def refuse_idle_pixverse_options(settings: Settings, providers: Providers) -> None:
    """PIXVERSE_FUSION and PIXVERSE_LIP_SYNC change clips made on PixVerse only: set while clips are made
    elsewhere, they would do nothing, so the start-up stops and says so."""
    chosen = [name for name in ("pixverse_fusion", "pixverse_lip_sync") if getattr(settings, name)]
    if chosen and providers.video.backend != "pixverse":
        raise ConfigurationError(
            f"{' and '.join(name.upper() for name in chosen)} apply to clips made on PixVerse, but clips are made by "
            f"'{providers.video.backend}': set VIDEO_BACKEND=pixverse (and PIXVERSE_API_KEY), or unset them"
        )


def build_registry() -> BackendRegistry:
    registry = preview_registry()
    register_dashscope_backends(registry)
    registry.register("image", "volcengine", _volcengine_image, is_configured=lambda s: bool(s.ark_api_key))
    register_pixverse_backend(registry)
    return registry


def build_providers(settings: Settings) -> Providers:
    from app_api.oss import OssPublisher, oss_client
    from app_api.standin import note_unconfigured_stages

    providers = build_registry().build(settings, PREFERRED)
    refuse_idle_pixverse_options(settings, providers)
    note_unconfigured_stages(providers, settings)
    client = oss_client(settings)
    if client is not None:
        providers.extras[PUBLISHER_EXTRA] = OssPublisher(client)
    return providers
