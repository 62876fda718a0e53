"""Fixtures for the media tests: the real FFmpeg, the CJK font, small render profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from story2video.media.encoding import RenderProfile
from story2video.media.ffmpeg import locate_ffmpeg
from story2video.media.fonts import FontInfo, resolve_cjk_font

SMALL = RenderProfile(width=320, height=180, fps=12)


@pytest.fixture(scope="session")
def ffmpeg_bin() -> Path:
    return locate_ffmpeg()


@pytest.fixture(scope="session")
def font() -> FontInfo:
    return resolve_cjk_font()


@pytest.fixture
def profile() -> RenderProfile:
    return SMALL
