"""The closest choice a model offers for a render's frame: image size, video resolution tier and clip
length, from the model's entry in the region's table (app_api/dashscope/catalog.py)."""

from __future__ import annotations

import math

from app_api.dashscope.catalog import RESOLUTION_SHORT_SIDE, ImageModel, VideoModel

FREE_LONG_SIDE, FREE_STEP = 1280, 16


def image_size(model: ImageModel, width: int, height: int) -> tuple[int, int]:
    """The size to ask ``model`` for: its allowed size closest in aspect to ``width`` x ``height``, or,
    for a model that takes any size, the frame's shape with the long side at 1280 px (within its range)."""
    if model.sizes:
        return _closest_aspect(model.sizes, width, height)
    return _free_size(width, height, model.min_side, model.max_side)


def size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}*{size[1]}"


def video_resolution(model: VideoModel, width: int, height: int) -> str:
    """The smallest resolution tier the model offers that covers the frame's short side (else its largest)."""
    tiers = sorted(model.resolutions, key=RESOLUTION_SHORT_SIDE.__getitem__)
    short = min(width, height)
    return next((tier for tier in tiers if RESOLUTION_SHORT_SIDE[tier] >= short), tiers[-1])


def video_duration(model: VideoModel, seconds: float) -> int:
    """The shortest clip length the model offers that covers ``seconds`` (else its longest)."""
    durations = sorted(model.durations)
    return next((d for d in durations if d >= seconds), durations[-1])


def _closest_aspect(sizes: tuple[tuple[int, int], ...], width: int, height: int) -> tuple[int, int]:
    wanted = math.log(width / height)
    return min(sizes, key=lambda size: abs(math.log(size[0] / size[1]) - wanted))


def _free_size(width: int, height: int, min_side: int, max_side: int) -> tuple[int, int]:
    scale = min(FREE_LONG_SIDE, max_side) / max(width, height)
    sides = [min(max_side, max(min_side, round(side * scale / FREE_STEP) * FREE_STEP)) for side in (width, height)]
    return sides[0], sides[1]
