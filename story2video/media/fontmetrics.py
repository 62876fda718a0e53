"""Text widths as libass draws them, measured with Pillow from the same font file.

libass (like VSFilter) sizes a font so that its Windows ascent plus descent (OS/2 ``usWinAscent`` +
``usWinDescent``) span the ASS font size, while Pillow sizes it by the em. For Noto Sans CJK that
makes an ASS size of 45 an em of 31 px; a layout that took the size for the em would wrap every
subtitle at about two thirds of the width it planned for.
"""

from __future__ import annotations

import struct
import threading
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from story2video.media.fonts import FontInfo

_REFERENCE_SIZE = 1000  # Pillow measures at this size; widths are scaled from it
_LOCK = threading.Lock()  # one FreeType face is shared by every caller


class AssTextMeasure:
    """Width in pixels of a text set in ``font`` at ASS font size ``size`` (advances, kerning included)."""

    def __init__(self, font: FontInfo, size: float):
        self._face = _face(str(font.path))
        self._scale = size / _REFERENCE_SIZE * em_per_ass_size(font.path)
        self.size = size

    @property
    def em(self) -> float:
        """Pixels per em: the width of one Chinese character."""
        return self._scale * _REFERENCE_SIZE

    def __call__(self, text: str) -> float:
        with _LOCK:
            return self._face.getlength(text) * self._scale


@lru_cache(maxsize=4)
def _face(path: str) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, _REFERENCE_SIZE)


@lru_cache(maxsize=16)
def em_per_ass_size(path: Path) -> float:
    """The em of ``path`` as a share of the ASS font size libass draws it at."""
    try:
        data = path.read_bytes()
        tables = _tables(data)
        (units_per_em,) = struct.unpack_from(">H", data, tables[b"head"] + 18)
        win_ascent, win_descent = struct.unpack_from(">hh", data, tables[b"OS/2"] + 74)
    except (OSError, KeyError, struct.error):
        return _em_per_line_height(str(path))
    if win_ascent + win_descent <= 0:  # libass then falls back to the face's own ascender/descender
        return _em_per_line_height(str(path))
    return units_per_em / (win_ascent + win_descent)


def _em_per_line_height(path: str) -> float:
    with _LOCK:
        ascent, descent = _face(path).getmetrics()
    return _REFERENCE_SIZE / (ascent + descent)


def _tables(data: bytes) -> dict[bytes, int]:
    """Table tag → offset in the first face of a font file (a .ttc collection holds several)."""
    face = struct.unpack_from(">I", data, 12)[0] if data[:4] == b"ttcf" else 0
    (count,) = struct.unpack_from(">H", data, face + 4)
    records = (struct.unpack_from(">4sIII", data, face + 12 + 16 * index) for index in range(count))
    return {tag: offset for tag, _checksum, offset, _length in records}
