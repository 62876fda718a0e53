"""Fakes of DashScope and OSS on 127.0.0.1, and the cloud backends built against them."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from app_api.dashscope.backends import DashScopeKit
from story2video.config import Settings
from story2video.media.ffmpeg import locate_ffmpeg
from tests.conftest import small_settings
from tests.fakes.dashscope import FakeDashScope
from tests.fakes.oss import FakeOss


@pytest.fixture(scope="session")
def ffmpeg_path() -> Path:
    return locate_ffmpeg()


@pytest.fixture
def dashscope(ffmpeg_path: Path) -> Iterator[FakeDashScope]:
    fake = FakeDashScope(ffmpeg_path).start()
    yield fake
    fake.stop()


@pytest.fixture
def oss() -> Iterator[FakeOss]:
    fake = FakeOss().start()
    yield fake
    fake.stop()


@pytest.fixture
def cloud_settings(tmp_path: Path, dashscope: FakeDashScope):
    """Settings against the fake DashScope; keyword overrides on top."""

    def make(**overrides) -> Settings:
        return small_settings(tmp_path, **{**dashscope.settings(), **overrides})

    return make


@pytest.fixture
def kit(cloud_settings) -> DashScopeKit:
    return DashScopeKit(cloud_settings())
