"""The name libass will find a font file by.

libass matches a style's ``Fontname`` against a font file's family (name ID 1), full name (4) and
PostScript name (6), but not the typographic family (16) that FreeType and Pillow report: the
pan-CJK Noto fonts call themselves "Noto Sans CJK TC" in ID 16 and "Noto Sans CJK TC Regular" in
ID 1, so ``FontInfo.family`` alone would draw every Chinese character as a box. The PostScript name
is unique and always matched, so we read it from the file's ``name`` table.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path

from story2video.media.fonts import FontInfo

_POSTSCRIPT_NAME = 6
_FAMILY_NAME = 1
_WINDOWS, _MACINTOSH = 3, 1


def ass_font_name(font: FontInfo) -> str:
    """The font's PostScript name, else its family name from the file, else ``font.family``."""
    return _names_in(font.path) or font.family


@lru_cache(maxsize=16)
def _names_in(path: Path) -> str:
    try:
        data = path.read_bytes()
        names = _name_records(data, _face_offset(data))
    except (OSError, struct.error, ValueError):
        return ""
    return names.get(_POSTSCRIPT_NAME) or names.get(_FAMILY_NAME) or ""


def _face_offset(data: bytes) -> int:
    """Where the first face's table directory starts (a .ttc collection holds several)."""
    if data[:4] == b"ttcf":
        (offset,) = struct.unpack_from(">I", data, 12)
        return offset
    return 0


def _name_records(data: bytes, face: int) -> dict[int, str]:
    """Name ID → English string, Windows (UTF-16) records preferred over Macintosh ones."""
    (table_count,) = struct.unpack_from(">H", data, face + 4)
    for index in range(table_count):
        tag, _checksum, offset, _length = struct.unpack_from(">4sIII", data, face + 12 + 16 * index)
        if tag == b"name":
            return _read_name_table(data, offset)
    raise ValueError("the font has no name table")


def _read_name_table(data: bytes, table: int) -> dict[int, str]:
    _format, count, strings = struct.unpack_from(">HHH", data, table)
    found: dict[int, tuple[int, str]] = {}
    for index in range(count):
        platform, _encoding, language, name_id, length, offset = struct.unpack_from(">6H", data, table + 6 + 12 * index)
        raw = data[table + strings + offset : table + strings + offset + length]
        if platform == _WINDOWS and language == 0x409:
            text, rank = raw.decode("utf-16-be", errors="replace"), 2
        elif platform == _MACINTOSH and language == 0:
            text, rank = raw.decode("mac_roman", errors="replace"), 1
        else:
            continue
        if text and rank > found.get(name_id, (0, ""))[0]:
            found[name_id] = (rank, text)
    return {name_id: text for name_id, (_rank, text) in found.items()}
