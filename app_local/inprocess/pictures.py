"""Sizes and pixels: what size a model is asked for, and fitting its pictures to the requested size."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageOps

from story2video.errors import InvalidRequest


def generation_size(width: int, height: int, native_width: int, native_height: int, multiple: int) -> tuple[int, int]:
    """The request's aspect ratio at the model's native pixel count, each side a multiple of ``multiple``."""
    if width <= 0 or height <= 0:
        raise InvalidRequest(f"the size must be positive, got {width}x{height}", param="size")
    scale = math.sqrt(native_width * native_height / (width * height))
    return _snapped(width * scale, multiple), _snapped(height * scale, multiple)


def _snapped(side: float, multiple: int) -> int:
    return max(multiple, round(side / multiple) * multiple)


def cover_fit(picture: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to cover ``width`` x ``height`` and crop the overflow evenly."""
    picture = picture.convert("RGB")
    if picture.size == (width, height):
        return picture
    return ImageOps.fit(picture, (width, height), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def save_png(picture: Image.Image, dest: Path, width: int, height: int) -> None:
    cover_fit(picture, width, height).save(dest, format="PNG")
