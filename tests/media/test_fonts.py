"""Which font draws Chinese in keyframes and subtitles: Noto Sans SC, so Simplified text gets mainland glyph forms."""

from __future__ import annotations

import asyncio
import importlib.util
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageFont

from app_api import build_providers
from story2video.errors import ConfigurationError
from story2video.media.fontnames import ass_font_name
from story2video.media.fonts import FontInfo, bundled_cjk_font, resolve_cjk_font
from story2video.providers.base import ImageRequest, StageContext
from story2video.providers.preview.keyframe import TitleCardPainter
from tests.conftest import small_settings

# Characters whose Simplified (SC) and Traditional (TC) glyph forms differ at the same code point.
REGIONAL = "骨直"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def traditional_reference() -> ImageFont.FreeTypeFont | None:
    """A Traditional Chinese face to compare with, where this machine has one (none ships with the project)."""
    spec = importlib.util.find_spec("cvttf_NotoSansCJK_Regular")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for path in Path(folder).glob("*.otf"):
            return ImageFont.truetype(str(path), 64)
    collection = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
    if collection.is_file():
        return ImageFont.truetype(str(collection), 64, index=3)  # JP, KR, SC, TC, HK
    return None


def mask(font: ImageFont.FreeTypeFont, text: str) -> bytes:
    return bytes(font.getmask(text))


def test_the_bundled_font_is_noto_sans_sc() -> None:
    path = bundled_cjk_font()
    assert path is not None, "pip install -r requirements-api.txt (pylopdf-fonts-zh-cn)"
    assert path.read_bytes()[:4] == b"OTTO"
    assert ImageFont.truetype(str(path), 16).getname() == ("Noto Sans SC", "Regular")


def test_the_default_font_is_the_simplified_chinese_face() -> None:
    font = resolve_cjk_font()
    assert font.path == bundled_cjk_font()
    assert font.family == "Noto Sans SC"
    assert ass_font_name(font) == "NotoSansSC-Regular"  # the name libass finds the subtitle font by


def test_simplified_and_traditional_forms_differ_in_the_chosen_face() -> None:
    reference = traditional_reference()
    if reference is None:
        pytest.skip("no Traditional Chinese face on this machine to compare glyph forms with")
    chosen = ImageFont.truetype(str(resolve_cjk_font().path), 64)
    for char in REGIONAL:
        assert mask(chosen, char) != mask(reference, char), char


def test_a_configured_font_path_still_wins(tmp_path: Path) -> None:
    configured = tmp_path / "mine.otf"
    configured.write_bytes(bundled_cjk_font().read_bytes())
    assert resolve_cjk_font(configured).path == configured
    with pytest.raises(ConfigurationError, match="cannot draw Chinese"):
        resolve_cjk_font(DEJAVU)


def paint_regional(painter: TitleCardPainter, dest: Path) -> Image.Image:
    request = ImageRequest(prompt="骨", subject=REGIONAL, narration="", style="写实", width=320, height=180, seed=1, shot_index=0)
    # In a thread of its own: after a browser test, Playwright's event loop runs in this one.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, painter.generate(request, dest, StageContext())).result()
    return Image.open(dest).convert("RGB")


def test_a_simplified_shot_keyframe_is_drawn_with_the_sc_face(tmp_path: Path) -> None:
    app_painter = build_providers(small_settings(tmp_path)).image  # as the app builds it
    drawn = paint_regional(app_painter, tmp_path / "app.png")
    with_sc = paint_regional(TitleCardPainter(FontInfo(bundled_cjk_font(), "Noto Sans SC")), tmp_path / "sc.png")
    assert ImageChops.difference(drawn, with_sc).getbbox() is None
    reference = traditional_reference()
    if reference is not None:  # the comparison above can tell the faces apart
        with_tc = paint_regional(TitleCardPainter(FontInfo(Path(reference.path), "TC")), tmp_path / "tc.png")
        assert ImageChops.difference(drawn, with_tc).getbbox() is not None
