"""What DashScope offers in each region, from Model Studio's documentation: the image models (and
whether they run as asynchronous text2image tasks or as one synchronous multimodal-generation call,
with the sizes they take) and the Wan image-to-video models (resolution tiers, clip lengths, sound).
The same models carry different names by region (Beijing ``wanx2.1-…``, Singapore ``wan2.1-…``).

docs/configuration.md shows these tables; change both together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from story2video.config import Settings
from story2video.errors import ConfigurationError

Region = Literal["beijing", "singapore"]
REGION_HOSTS: dict[str, Region] = {"dashscope.aliyuncs.com": "beijing", "dashscope-intl.aliyuncs.com": "singapore"}
REGION_NAMES: dict[Region, str] = {"beijing": "Beijing (dashscope.aliyuncs.com)", "singapore": "Singapore (dashscope-intl.aliyuncs.com)"}

TASK, SYNC = "task", "sync"  # text2image/image-synthesis task; multimodal-generation/generation call
QWEN_IMAGE_SIZES = ((1664, 928), (1472, 1140), (1328, 1328), (1140, 1472), (928, 1664))
QWEN_IMAGE_MAX_SIZES = ((1664, 928), (1472, 1104), (1328, 1328), (1104, 1472), (928, 1664))
WANX_V1_SIZES = ((1024, 1024), (720, 1280), (1280, 720), (768, 1152))
RESOLUTION_SHORT_SIDE = {"480P": 480, "720P": 720, "1080P": 1080}


@dataclass(frozen=True)
class ImageModel:
    name: str
    call: str  # TASK or SYNC
    sizes: tuple[tuple[int, int], ...] = ()  # the sizes it takes; () = any size within min_side..max_side
    min_side: int = 512
    max_side: int = 1440
    references: int = 0  # reference pictures one synchronous call may carry as image parts (0: text only)


@dataclass(frozen=True)
class VideoModel:
    name: str
    resolutions: tuple[str, ...]
    durations: tuple[int, ...]
    makes_sound: bool = False  # adds generated sound unless sent "audio": false


def _images(*models: ImageModel) -> dict[str, ImageModel]:
    return {model.name: model for model in models}


def _videos(*models: VideoModel) -> dict[str, VideoModel]:
    return {model.name: model for model in models}


_QWEN_IMAGE = (
    ImageModel("qwen-image-plus", TASK, QWEN_IMAGE_SIZES),
    ImageModel("qwen-image", TASK, QWEN_IMAGE_SIZES),
    ImageModel("qwen-image-max", SYNC, QWEN_IMAGE_MAX_SIZES),
)
_QWEN_IMAGE_2 = (
    ImageModel("qwen-image-2.0", SYNC, min_side=512, max_side=2048, references=3),
    ImageModel("qwen-image-2.0-pro", SYNC, min_side=512, max_side=2048, references=3),
)
_WAN_LATEST = (
    VideoModel("wan2.6-i2v", ("720P", "1080P"), (5, 10, 15), makes_sound=True),
    VideoModel("wan2.5-i2v-preview", ("480P", "720P", "1080P"), (5, 10), makes_sound=True),
    VideoModel("wan2.2-i2v-plus", ("480P", "1080P"), (5,)),
)

IMAGE_MODELS: dict[Region, dict[str, ImageModel]] = {
    "beijing": _images(
        *_QWEN_IMAGE,
        *_QWEN_IMAGE_2,
        ImageModel("wan2.2-t2i-flash", TASK),
        ImageModel("wan2.2-t2i-plus", TASK),
        ImageModel("wanx2.1-t2i-turbo", TASK),
        ImageModel("wanx2.1-t2i-plus", TASK),
        ImageModel("wanx-v1", TASK, WANX_V1_SIZES),
    ),
    "singapore": _images(
        *_QWEN_IMAGE,
        ImageModel("wan2.2-t2i-flash", TASK),
        ImageModel("wan2.1-t2i-turbo", TASK),
        ImageModel("wan2.1-t2i-plus", TASK),
    ),
}
VIDEO_MODELS: dict[Region, dict[str, VideoModel]] = {
    "beijing": _videos(
        *_WAN_LATEST,
        VideoModel("wan2.2-i2v-flash", ("480P", "720P", "1080P"), (5,)),
        VideoModel("wanx2.1-i2v-turbo", ("480P", "720P"), (3, 4, 5)),
        VideoModel("wanx2.1-i2v-plus", ("720P",), (5,)),
    ),
    "singapore": _videos(
        *_WAN_LATEST,
        VideoModel("wan2.2-i2v-flash", ("480P", "720P"), (5,)),
        VideoModel("wan2.1-i2v-turbo", ("480P", "720P"), (3, 4, 5)),
        VideoModel("wan2.1-i2v-plus", ("720P",), (5,)),
    ),
}
# What an unlisted model is taken to accept when DASHSCOPE_ALLOW_UNKNOWN_MODELS lets it through.
UNLISTED_IMAGE = ImageModel("", TASK)
UNLISTED_VIDEO = ("480P", "720P", "1080P"), (5,)


def region_of(settings: Settings) -> Region:
    """DASHSCOPE_REGION, or the region of DASHSCOPE_BASE_URL's host (another host, e.g. a proxy, counts as Beijing)."""
    if settings.dashscope_region != "auto":
        return settings.dashscope_region
    host = (urlsplit(settings.dashscope_base_url).hostname or "").lower()
    return REGION_HOSTS.get(host, "beijing")


def image_model(settings: Settings) -> ImageModel:
    """DASHSCOPE_IMAGE_MODEL as the region's table has it; ConfigurationError for one it lacks."""
    region, name = region_of(settings), settings.dashscope_image_model
    found = IMAGE_MODELS[region].get(name)
    if found is not None:
        return found
    _refuse_unlisted("DASHSCOPE_IMAGE_MODEL", name, region, IMAGE_MODELS, settings.dashscope_allow_unknown_models)
    return ImageModel(name, UNLISTED_IMAGE.call)


def video_model(settings: Settings) -> VideoModel:
    """DASHSCOPE_VIDEO_MODEL as the region's table has it, checked against DASHSCOPE_VIDEO_RESOLUTION."""
    region, name = region_of(settings), settings.dashscope_video_model
    found = VIDEO_MODELS[region].get(name)
    if found is None:
        _refuse_unlisted("DASHSCOPE_VIDEO_MODEL", name, region, VIDEO_MODELS, settings.dashscope_allow_unknown_models)
        resolutions, durations = UNLISTED_VIDEO
        found = VideoModel(name, resolutions, durations, makes_sound=_newer_than_wan_2_4(name))
    wanted = settings.dashscope_video_resolution
    if wanted and wanted not in found.resolutions:
        raise ConfigurationError(
            f"DASHSCOPE_VIDEO_RESOLUTION={wanted}: {name} in {REGION_NAMES[region]} offers {', '.join(found.resolutions)} only; "
            "choose one of those, or leave it empty to choose by render size"
        )
    return found


def _refuse_unlisted(setting: str, name: str, region: Region, tables: dict[Region, dict], allowed: bool) -> None:
    here = ", ".join(tables[region])
    elsewhere = [other for other, table in tables.items() if other != region and name in table]
    if elsewhere:
        raise ConfigurationError(
            f"{setting}={name} is not offered in {REGION_NAMES[region]} (it is a {REGION_NAMES[elsewhere[0]]} name); "
            f"the models there are: {here}. Choose one of them, or set DASHSCOPE_BASE_URL / DASHSCOPE_REGION to the model's region"
        )
    if allowed:
        return
    raise ConfigurationError(
        f"{setting}={name} is not in the model table for {REGION_NAMES[region]}: known models are {here}. "
        "Set DASHSCOPE_ALLOW_UNKNOWN_MODELS=true to use it anyway (docs/configuration.md says what is then assumed)"
    )


def _newer_than_wan_2_4(name: str) -> bool:
    found = re.match(r"wanx?(\d+)\.(\d+)", name)
    return found is not None and (int(found.group(1)), int(found.group(2))) >= (2, 5)
