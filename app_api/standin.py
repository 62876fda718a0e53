"""Cloud mode without a DashScope key: the preview backends serve, and /ready says why."""

from __future__ import annotations

from dataclasses import replace

from story2video.config import Settings
from story2video.providers.base import BackendStatus, Providers

NOT_CONFIGURED = "DashScope is not configured (set DASHSCOPE_API_KEY); the built-in preview backend serves this stage"
_STAGES = ("storyboard", "image", "video", "speech", "script")  # Providers fields, also the *_BACKEND setting names


class PreviewStandIn:
    """A preview backend standing in for DashScope: it works exactly as the preview backend does
    (its stage method is reached through ``__getattr__``), and its status carries the reason."""

    def __init__(self, inner: object, note: str):
        self._inner = inner
        self._note = note
        self.backend: str = inner.backend  # type: ignore[attr-defined]
        self.model: str = inner.model  # type: ignore[attr-defined]

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    async def status(self) -> BackendStatus:
        status = await self._inner.status()  # type: ignore[attr-defined]
        return replace(status, detail="; ".join(part for part in (self._note, status.detail) if part))


def note_unconfigured_stages(providers: Providers, settings: Settings) -> None:
    """Wrap each stage that fell back to preview under "auto" because no key is set."""
    if settings.dashscope_api_key:
        return
    for stage in _STAGES:
        provider = getattr(providers, stage)
        if provider.backend == "preview" and getattr(settings, f"{stage}_backend") == "auto":
            setattr(providers, stage, PreviewStandIn(provider, NOT_CONFIGURED))
