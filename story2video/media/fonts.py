"""Find a font that can draw Chinese, for keyframes and burned-in subtitles.

Simplified Chinese comes first: the bundled face is Noto Sans SC (package ``pylopdf-fonts-zh-cn``),
so characters whose glyph forms differ by region (骨, 直) are drawn the mainland way. It also covers
every Big5 and HKSCS character, so Traditional text is drawn too (with SC forms), never as boxes.
The web page serves the same file as its web font (``bundled_cjk_font``, api/routes/web.py).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from story2video.errors import ConfigurationError

_BUNDLED_FONT_MODULE = "pylopdf_fonts_zh_cn"
_BUNDLED_FONT_FILE = "NotoSansSC-Regular.otf"
# Used only where the bundled package is missing. Pillow and libass read the first face of a
# collection (.ttc): Chinese faces first; the Noto CJK collection's first face is Japanese.
_SYSTEM_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
_PROBE_TEXT = "中文字幕"


@dataclass(frozen=True)
class FontInfo:
    path: Path
    family: str  # the family name libass looks up in ``path.parent``

    @property
    def directory(self) -> Path:
        return self.path.parent


@lru_cache(maxsize=1)
def bundled_cjk_font() -> Path | None:
    """Noto Sans SC from the ``pylopdf-fonts-zh-cn`` package, or None where it is not installed."""
    spec = importlib.util.find_spec(_BUNDLED_FONT_MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / _BUNDLED_FONT_FILE
        if candidate.is_file():
            return candidate
    return None


def _draws_cjk(path: Path) -> bool:
    font = ImageFont.truetype(str(path), 32)
    # A font without CJK glyphs draws every ideograph as the same .notdef box.
    masks = {bytes(font.getmask(ch)) for ch in _PROBE_TEXT}
    return len(masks) == len(set(_PROBE_TEXT))


@lru_cache(maxsize=4)
def resolve_cjk_font(configured: Path | None = None) -> FontInfo:
    """The configured font, else the bundled Noto Sans SC, else a system CJK font."""
    if configured is not None:
        candidates = [Path(configured)]
    else:
        bundled = bundled_cjk_font()
        candidates = ([bundled] if bundled is not None else []) + [Path(p) for p in _SYSTEM_CANDIDATES]
    for path in candidates:
        if path.is_file() and _draws_cjk(path):
            family = ImageFont.truetype(str(path), 16).getname()[0]
            return FontInfo(path=path, family=family)
    if configured is not None:
        raise ConfigurationError(f"FONT_PATH={configured} is missing or cannot draw Chinese characters")
    raise ConfigurationError(
        "no font that can draw Chinese was found; install requirements-api.txt "
        "(package pylopdf-fonts-zh-cn, Noto Sans SC) or set FONT_PATH to a CJK TTF/OTF"
    )
