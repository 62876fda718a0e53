"""Find a font that can draw Chinese, for keyframes and burned-in subtitles."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from story2video.errors import ConfigurationError

_SYSTEM_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
_PACKAGED_FONT_MODULE = "cvttf_NotoSansCJK_Regular"
_PROBE_TEXT = "中文字幕"


@dataclass(frozen=True)
class FontInfo:
    path: Path
    family: str  # the family name libass looks up in ``path.parent``

    @property
    def directory(self) -> Path:
        return self.path.parent


def _packaged_font() -> Path | None:
    spec = importlib.util.find_spec(_PACKAGED_FONT_MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for candidate in sorted(Path(folder).glob("*.otf")):
            return candidate
    return None


def _draws_cjk(path: Path) -> bool:
    font = ImageFont.truetype(str(path), 32)
    # A font without CJK glyphs draws every ideograph as the same .notdef box.
    masks = {bytes(font.getmask(ch)) for ch in _PROBE_TEXT}
    return len(masks) == len(set(_PROBE_TEXT))


@lru_cache(maxsize=4)
def resolve_cjk_font(configured: Path | None = None) -> FontInfo:
    """The configured font, else a system CJK font, else the one shipped by a PyPI package."""
    if configured is not None:
        candidates = [Path(configured)]
    else:
        candidates = [Path(p) for p in _SYSTEM_CANDIDATES if Path(p).is_file()]
        packaged = _packaged_font()
        if packaged is not None:
            candidates.append(packaged)
    for path in candidates:
        if path.is_file() and _draws_cjk(path):
            family = ImageFont.truetype(str(path), 16).getname()[0]
            return FontInfo(path=path, family=family)
    if configured is not None:
        raise ConfigurationError(f"FONT_PATH={configured} is missing or cannot draw Chinese characters")
    raise ConfigurationError(
        "no font that can draw Chinese was found; install requirements-api.txt "
        "(package cvttf-notosanscjk-regular) or set FONT_PATH to a CJK TTF/OTF"
    )
