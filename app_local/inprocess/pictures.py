"""What size a model is asked for: the request's shape at the model's native pixel count."""

from __future__ import annotations

import math

from story2video.errors import InvalidRequest


def generation_size(width: int, height: int, native_width: int, native_height: int, multiple: int) -> tuple[int, int]:
    """The request's aspect ratio at the model's native pixel count, each side a multiple of ``multiple``."""
    if width <= 0 or height <= 0:
        raise InvalidRequest(f"the size must be positive, got {width}x{height}", param="size")
    scale = math.sqrt(native_width * native_height / (width * height))
    return _snapped(width * scale, multiple), _snapped(height * scale, multiple)


def _snapped(side: float, multiple: int) -> int:
    return max(multiple, round(side / multiple) * multiple)
