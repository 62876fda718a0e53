"""Shared fixtures: a real app (preview providers, real FFmpeg, SQLite in a temp dir)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from app_api import build_providers
from story2video.app import create_app
from story2video.config import Settings
from story2video.providers.base import Providers

CHINESE_SCRIPT = (
    "清晨，小镇的钟声响起，少女林夏推开木窗，望见远山上的薄雾。\n\n"
    "她背起画板，沿着青石小路走向河边，路旁的老槐树沙沙作响。"
    "河面上漂着一只纸船，船上写着一行小字：请把我送到大海。\n\n"
    "林夏小心地捧起纸船，决定跟着河流出发。她穿过稻田，越过石桥，天色渐渐暗了下来。\n\n"
    "夜里，萤火虫照亮了河岸，她终于听见了海浪的声音。她轻轻放下纸船，看着它漂向远方，心里充满了温暖。"
)


def small_settings(root: Path, **overrides) -> Settings:
    """Settings for tests: everything under ``root``, small frames so renders stay quick."""
    values = dict(
        output_dir=root / "output",
        database_path=root / "db" / "story2video.sqlite3",
        default_resolution=180,
        default_fps=12,
        compose_workers=2,
        local_inference=False,
        storyboard_backend="auto",
        image_backend="auto",
        video_backend="auto",
        speech_backend="auto",
        ffmpeg_binary="",
        font_path=None,
        music_path=None,
        public_base_url="",
        max_running_operations=4,
        max_queued_operations=64,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


AppFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[AppFactory]:
    """Build and start an app; ``providers`` may replace any stage backend. Closed after the test."""
    clients: list[TestClient] = []

    def factory(root: Path | None = None, providers: Providers | None = None, **overrides) -> TestClient:
        settings = small_settings(root or tmp_path, **overrides)
        app = create_app(settings, providers or build_providers(settings))
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: AppFactory) -> TestClient:
    return make_client()


def create_body(**overrides) -> dict:
    body = {
        "operation_id": "op-001",
        "story_id": "story-001",
        "user_id": "u-001",
        "display_name": "我的故事",
        "script_content": CHINESE_SCRIPT,
        "style": "写实",
    }
    body.update(overrides)
    return body


def send_bare(client: TestClient, method: str, url: str, **kwargs):
    """A request as `curl -X POST url` sends it: no body, and no Content-Length or Content-Type header
    (httpx would add `Content-Length: 0`)."""
    request = client.build_request(method, url, **kwargs)
    request.headers.pop("content-length", None)
    request.headers.pop("content-type", None)
    return client.send(request)
