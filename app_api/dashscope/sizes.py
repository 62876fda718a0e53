"""What each DashScope model accepts: image sizes, video resolutions and clip durations, and the
closest choice for a render's frame."""

from __future__ import annotations

import math

# Sizes the Qwen-Image family accepts ("W*H"); other image models take any size in range.
QWEN_IMAGE_SIZES = ((1664, 928), (1472, 1140), (1328, 1328), (1140, 1472), (928, 1664))
WANX_V1_SIZES = ((1024, 1024), (720, 1280), (1280, 720), (768, 1152))
FREE_LONG_SIDE, FREE_MIN_SIDE, FREE_STEP = 1280, 512, 16

RESOLUTION_SHORT_SIDE = {"480P": 480, "720P": 720, "1080P": 1080}
# model -> (resolutions, clip durations in seconds) it accepts
VIDEO_MODELS: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "wan2.2-i2v-flash": (("480P", "720P", "1080P"), (5,)),
    "wan2.2-i2v-plus": (("480P", "1080P"), (5,)),
    "wan2.5-i2v-preview": (("480P", "720P", "1080P"), (5, 10)),
    "wan2.1-i2v-turbo": (("480P", "720P"), (3, 4, 5)),
    "wan2.1-i2v-plus": (("720P",), (5,)),
}
OTHER_VIDEO_MODEL = (("480P", "720P", "1080P"), (5,))


def image_size(model: str, width: int, height: int) -> tuple[int, int]:
    """The size to ask ``model`` for: the allowed size closest in aspect to ``width`` x ``height``."""
    if model.startswith("qwen-image"):
        return _closest_aspect(QWEN_IMAGE_SIZES, width, height)
    if model == "wanx-v1":
        return _closest_aspect(WANX_V1_SIZES, width, height)
    return _free_size(width, height)


def size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}*{size[1]}"


def video_resolution(model: str, width: int, height: int) -> str:
    """The smallest resolution tier the model offers that covers the frame's short side (else its largest)."""
    tiers = sorted(VIDEO_MODELS.get(model, OTHER_VIDEO_MODEL)[0], key=RESOLUTION_SHORT_SIDE.__getitem__)
    short = min(width, height)
    return next((tier for tier in tiers if RESOLUTION_SHORT_SIDE[tier] >= short), tiers[-1])


def video_duration(model: str, seconds: float) -> int:
    """The shortest clip length the model offers that covers ``seconds`` (else its longest)."""
    durations = sorted(VIDEO_MODELS.get(model, OTHER_VIDEO_MODEL)[1])
    return next((d for d in durations if d >= seconds), durations[-1])


def _closest_aspect(sizes: tuple[tuple[int, int], ...], width: int, height: int) -> tuple[int, int]:
    wanted = math.log(width / height)
    return min(sizes, key=lambda size: abs(math.log(size[0] / size[1]) - wanted))


def _free_size(width: int, height: int) -> tuple[int, int]:
    scale = FREE_LONG_SIDE / max(width, height)
    sides = [max(FREE_MIN_SIDE, round(side * scale / FREE_STEP) * FREE_STEP) for side in (width, height)]
    return sides[0], sides[1]
