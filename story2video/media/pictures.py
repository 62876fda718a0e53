"""Still pictures fitted to a frame: scaled to cover it, centred, the overflow cut off evenly."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable

from PIL import Image, ImageOps, UnidentifiedImageError

from story2video.errors import without_paths

Unreadable = Callable[[str], Exception]  # the caller's error for a picture Pillow cannot read, given why (no paths)


def cover_fit(picture: Image.Image, width: int, height: int) -> Image.Image:
    """``picture`` in RGB, scaled to cover ``width`` x ``height`` and cropped to it (as it is when it fits)."""
    if picture.mode != "RGB":
        picture = picture.convert("RGB")
    if picture.size == (width, height):
        return picture
    return ImageOps.fit(picture, (width, height), Image.Resampling.LANCZOS)


def save_cover_png(picture: Image.Image, dest: Path, width: int, height: int) -> None:
    cover_fit(picture, width, height).save(dest, format="PNG")


def read_picture(source: bytes | Path, unreadable: Unreadable) -> Image.Image:
    """The picture in ``source`` (its bytes or its file), decoded in RGB; ``unreadable(why)`` raised if it is not one."""
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as picture:
            picture.load()
            return picture.convert("RGB")
    except (UnidentifiedImageError, OSError) as error:
        raise unreadable(without_paths(str(error))) from error


def write_cover_png(source: bytes | Path, dest: Path, width: int, height: int, unreadable: Unreadable) -> None:
    """The picture in ``source`` fitted to ``width`` x ``height`` and saved to ``dest`` as PNG."""
    save_cover_png(read_picture(source, unreadable), dest, width, height)


def fit_png_file(source: Path, dest: Path, width: int, height: int) -> None:
    """A PNG the service wrote before (a normalised upload), fitted to ``width`` x ``height``."""
    with Image.open(source, formats=["PNG"]) as picture:
        save_cover_png(picture, dest, width, height)
