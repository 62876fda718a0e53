"""The size a workflow is asked to generate: a multiple of what the model needs, within its pixel budget.

Diffusion models work on latents 8x smaller than the image (SDXL and SVD like multiples of 64), and
each has a resolution it was trained for. The request's size is scaled down into the binding's
``max_pixels`` and rounded to its ``size_multiple``; the result is cover-resized to the exact size
afterwards (keyframes here, clips in the segment graph).
"""

from __future__ import annotations

import math

from story2video.errors import InvalidRequest


def generation_size(width: int, height: int, multiple: int, max_pixels: int | None) -> tuple[int, int]:
    if width <= 0 or height <= 0:
        raise InvalidRequest(f"the size must be positive, got {width}x{height}", param="size")
    scale = 1.0
    if max_pixels is not None and width * height > max_pixels:
        scale = math.sqrt(max_pixels / (width * height))
    snap = math.floor if scale < 1.0 else round  # scaled down: stay inside the budget
    return _snapped(width * scale, multiple, snap), _snapped(height * scale, multiple, snap)


def _snapped(side: float, multiple: int, snap) -> int:
    return max(multiple, int(snap(side / multiple)) * multiple)
