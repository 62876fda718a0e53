"""Still pictures fitted to a frame: scaled to cover it, centred, the overflow cut off evenly."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps


def cover_fit(picture: Image.Image, width: int, height: int) -> Image.Image:
    """``picture`` in RGB, scaled to cover ``width`` x ``height`` and cropped to it (as it is when it fits)."""
    picture = picture.convert("RGB")
    if picture.size == (width, height):
        return picture
    return ImageOps.fit(picture, (width, height), Image.Resampling.LANCZOS)


def save_cover_png(picture: Image.Image, dest: Path, width: int, height: int) -> None:
    cover_fit(picture, width, height).save(dest, format="PNG")


def fit_png_file(source: Path, dest: Path, width: int, height: int) -> None:
    """A PNG the service wrote before (a normalised upload), fitted to ``width`` x ``height``."""
    with Image.open(source, formats=["PNG"]) as picture:
        save_cover_png(picture, dest, width, height)
