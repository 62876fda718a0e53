"""Helpers for the ComfyUI tests: started fake hosts, settings pointing at them, requests, a recording context."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from PIL import Image

from story2video.config import Settings
from story2video.providers.base import ClipRequest, ImageRequest, StageContext
from tests.conftest import small_settings
from tests.fakes.comfyui import FakeComfyUI

WORKFLOWS = Path(__file__).parent / "comfy_workflows"
TEXT_TO_IMAGE = WORKFLOWS / "fake_text_to_image.json"
IMAGE_TO_WEBP = WORKFLOWS / "fake_image_to_webp.json"
IMAGE_TO_MP4 = WORKFLOWS / "fake_image_to_mp4.json"
MISSING_MODEL = WORKFLOWS / "fake_upscale_missing_model.json"
REFERENCE_TO_IMAGE = WORKFLOWS / "fake_reference_to_image.json"

ComfyFactory = Callable[..., FakeComfyUI]


@contextmanager
def fake_comfy_hosts(root: Path) -> Iterator[ComfyFactory]:
    """A factory of started fake ComfyUI hosts (``start(**options)``); all are closed on exit."""
    servers: list[FakeComfyUI] = []

    def start(**options) -> FakeComfyUI:
        server = FakeComfyUI(root / f"comfy-{len(servers)}", **options).start()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.close()


def comfy_settings(root: Path, *servers: FakeComfyUI, urls: tuple[str, ...] = (), **overrides) -> Settings:
    values = dict(
        comfy_hosts=",".join([server.url for server in servers] + list(urls)),
        comfy_image_workflow=TEXT_TO_IMAGE,
        comfy_video_workflow=IMAGE_TO_WEBP,
        comfy_request_timeout_s=5.0,
        comfy_job_timeout_s=60.0,
        comfy_ws_stall_s=5.0,
        comfy_health_interval_s=60.0,
        comfy_max_attempts=3,
    )
    values.update(overrides)
    return small_settings(root, **values)


def image_request(width: int = 100, height: int = 60, seed: int = 1234, **overrides) -> ImageRequest:
    request = ImageRequest(
        prompt="a lighthouse at dawn", subject="lighthouse", narration="The light comes on.", style="watercolor",
        width=width, height=height, seed=seed,
    )
    return replace(request, **overrides)


def keyframe(path: Path, size: tuple[int, int] = (96, 54), colour: tuple[int, int, int] = (200, 40, 40)) -> Path:
    Image.new("RGB", size, colour).save(path, format="PNG")
    return path


def clip_request(keyframe_path: Path, duration: float = 2.0, fps: int = 12, **overrides) -> ClipRequest:
    request = ClipRequest(
        keyframe=keyframe_path, prompt="waves roll in", camera="push in", duration=duration,
        width=96, height=54, fps=fps, seed=7,
    )
    return replace(request, **overrides)


class RecordingContext:
    """A StageContext whose progress reports are kept and whose cancel flag a test can raise."""

    def __init__(self, cancel_when: Callable[[], bool] = lambda: False):
        self.reports: list[float] = []
        self._cancel_when = cancel_when

    @property
    def ctx(self) -> StageContext:
        return StageContext(progress=self.reports.append, is_cancelled=self._cancel_when)
