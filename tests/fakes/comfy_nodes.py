"""Model-free node classes for the fake ComfyUI: real core class names, input names, value ranges and
output types, implemented with Pillow and FFmpeg. An IMAGE is a list of PIL images (a batch); a VIDEO
is ``(frames, fps)``; an UPSCALE_MODEL is a scale factor. Validation mirrors ComfyUI's
``execution.validate_inputs`` reasons (required_input_missing, value_not_in_list, ...)."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageChops, ImageOps

from story2video.media.ffmpeg import locate_ffmpeg

Frames = list[Image.Image]
Ui = dict[str, list]
RunResult = tuple[tuple[Any, ...], Ui | None]


@dataclass(frozen=True)
class Input:
    type: str | tuple[str, ...]  # INT FLOAT STRING BOOLEAN, a link type (IMAGE, VIDEO, ...), or the allowed values
    min: float | None = None
    max: float | None = None
    # Shown in /object_info as a list of these files although validated as a STRING (LoadImage's
    # ``image``: ComfyUI lists the input folder, and its VALIDATE_INPUTS replaces the list check).
    listing: Callable[[Folders], list[str]] | None = None


@dataclass
class Folders:
    input: Path
    output: Path
    temp: Path
    upscale_models: dict[str, int] = field(default_factory=dict)  # model name -> scale factor


@dataclass(frozen=True)
class NodeClass:
    required: dict[str, Input]
    outputs: tuple[str, ...]
    run: Callable[[Folders, dict[str, Any]], RunResult]
    optional: dict[str, Input] = field(default_factory=dict)
    output_node: bool = False
    custom_check: Callable[[Folders, dict[str, Any]], list[dict]] | None = None  # like VALIDATE_INPUTS


VALUE_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN")


# ---------------------------------------------------------------- validation (one node's own inputs)


def check_value(name: str, spec: Input, value: Any) -> dict | None:
    """The validation error for a plain (unlinked) input value, or None."""
    if isinstance(spec.type, tuple):
        return _check_choice(name, spec.type, value)
    if spec.type == "INT":
        return _check_number(name, spec, value, int)
    if spec.type == "FLOAT":
        return _check_number(name, spec, value, float)
    if spec.type in ("STRING", "BOOLEAN") and not isinstance(value, str if spec.type == "STRING" else bool):
        message = f"Failed to convert an input value to a {spec.type} value"
        return _reason("invalid_input_type", message, f"{name}, {value!r}", name, value)
    if spec.type not in VALUE_TYPES:
        message = "Bad linked input, must be a length-2 list of [string, int]"
        return _reason("bad_linked_input", message, name, name, value)
    return None


def _check_choice(name: str, choices: tuple[str, ...], value: Any) -> dict | None:
    if value in choices:
        return None
    return _reason("value_not_in_list", "Value not in list", f"{name}: '{value}' not in {list(choices)}", name, value)


def _check_number(name: str, spec: Input, value: Any, kind: type) -> dict | None:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        message = f"Failed to convert an input value to a {spec.type} value"
        return _reason("invalid_input_type", message, f"{name}, {value}", name, value)
    if spec.min is not None and number < spec.min:
        return _reason("value_smaller_than_min", f"Value {number} smaller than min of {spec.min}", f"{name}", name, value)
    if spec.max is not None and number > spec.max:
        return _reason("value_bigger_than_max", f"Value {number} bigger than max of {spec.max}", f"{name}", name, value)
    return None


def _reason(kind: str, message: str, details: str, name: str, value: Any) -> dict:
    return {
        "type": kind,
        "message": message,
        "details": details,
        "extra_info": {"input_name": name, "input_config": None, "received_value": value},
    }


def coerce(spec: Input, value: Any) -> Any:
    if spec.type == "INT":
        return int(value)
    if spec.type == "FLOAT":
        return float(value)
    return value


# ---------------------------------------------------------------- /object_info (ComfyUI's server.node_info)


def node_info(name: str, node: NodeClass, folders: Folders, combo_style: str = "list") -> dict:
    """``GET /object_info/<name>``'s entry: ``{"input": {"required": {input: spec}}, ...}``, where a spec is
    ``["INT", {"min", "max"}]``, ``["IMAGE"]`` for a link, and for a choice ``[[choices], {}]`` (ComfyUI's
    classic nodes) or ``["COMBO", {"options": [choices]}]`` (nodes on its newer schema, ``combo_style="COMBO"``)."""
    inputs = {"required": {key: _input_spec(spec, folders, combo_style) for key, spec in node.required.items()}}
    if node.optional:
        inputs["optional"] = {key: _input_spec(spec, folders, combo_style) for key, spec in node.optional.items()}
    return {
        "input": inputs,
        "input_order": {section: list(specs) for section, specs in inputs.items()},
        "output": list(node.outputs),
        "output_is_list": [False] * len(node.outputs),
        "output_name": list(node.outputs),
        "name": name,
        "display_name": name,
        "description": "",
        "python_module": "nodes",
        "category": "fake",
        "output_node": node.output_node,
    }


def _input_spec(spec: Input, folders: Folders, combo_style: str) -> list:
    if spec.listing is not None:
        return [sorted(spec.listing(folders)), {"image_upload": True}]
    if isinstance(spec.type, tuple):
        return ["COMBO", {"options": list(spec.type)}] if combo_style == "COMBO" else [list(spec.type), {}]
    if spec.type in ("INT", "FLOAT"):
        limits = {key: value for key, value in (("min", spec.min), ("max", spec.max)) if value is not None}
        return [spec.type, {"default": spec.min if spec.min is not None else 0, **limits}]
    if spec.type in ("STRING", "BOOLEAN"):
        return [spec.type, {}]
    return [spec.type]


def input_files(folders: Folders) -> list[str]:
    return [path.relative_to(folders.input).as_posix() for path in folders.input.rglob("*") if path.is_file()]


# ---------------------------------------------------------------- images


def _rgb(color: int) -> tuple[int, int, int]:
    return (color >> 16) & 255, (color >> 8) & 255, color & 255


def empty_image(_: Folders, v: dict) -> RunResult:
    frame = Image.new("RGB", (v["width"], v["height"]), _rgb(v["color"]))
    return ([frame.copy() for _ in range(v["batch_size"])],), None


def _input_path(folders: Folders, name: str) -> Path:
    return folders.input / name.removesuffix(" [input]")


def load_image_check(folders: Folders, v: dict) -> list[dict]:
    if _input_path(folders, v["image"]).is_file():
        return []
    details = f"image - Invalid image file: {v['image']}"
    return [_reason("custom_validation_failed", "Custom validation failed for node", details, "image", v["image"])]


def load_image(folders: Folders, v: dict) -> RunResult:
    with Image.open(_input_path(folders, v["image"])) as image:
        frame = image.convert("RGB")
    return ([frame], None), None


_RESAMPLE = {
    "nearest-exact": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "area": Image.Resampling.BOX,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def image_scale(_: Folders, v: dict) -> RunResult:
    return ([_scaled(frame, v["width"], v["height"], v["upscale_method"], v["crop"]) for frame in v["image"]],), None


def _scaled(frame: Image.Image, width: int, height: int, method: str, crop: str) -> Image.Image:
    if width == 0 and height == 0:
        return frame
    width = width or max(1, round(frame.width * height / frame.height))
    height = height or max(1, round(frame.height * width / frame.width))
    if crop == "center":
        return ImageOps.fit(frame, (width, height), method=_RESAMPLE[method])
    return frame.resize((width, height), _RESAMPLE[method])


def image_invert(_: Folders, v: dict) -> RunResult:
    return ([ImageOps.invert(frame.convert("RGB")) for frame in v["image"]],), None


_BLENDS = {
    "multiply": ImageChops.multiply,
    "screen": ImageChops.screen,
    "overlay": ImageChops.overlay,
    "soft_light": ImageChops.soft_light,
    "difference": ImageChops.difference,
}


def image_blend(_: Folders, v: dict) -> RunResult:
    blended = []
    for first, second in zip(v["image1"], v["image2"], strict=True):
        second = second.resize(first.size) if second.size != first.size else second
        mixed = second if v["blend_mode"] == "normal" else _BLENDS[v["blend_mode"]](first, second)
        blended.append(Image.blend(first, mixed, v["blend_factor"]))
    return (blended,), None


_SPACING_COLOURS = {"white": (255, 255, 255), "black": (0, 0, 0), "red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


def image_stitch(_: Folders, v: dict) -> RunResult:
    """image2 beside image1 (ComfyUI's ImageStitch); without image2, image1 as it is."""
    if v.get("image2") is None:
        return (v["image1"],), None
    stitched = []
    for first, second in zip(v["image1"], v["image2"], strict=True):
        across = v["direction"] in ("right", "left")
        if v["match_image_size"]:
            scale = first.height / second.height if across else first.width / second.width
            second = second.resize((max(1, round(second.width * scale)), max(1, round(second.height * scale))))
        a, b = (first, second) if v["direction"] in ("right", "down") else (second, first)
        gap = v["spacing_width"]
        size = (a.width + gap + b.width, max(a.height, b.height)) if across else (max(a.width, b.width), a.height + gap + b.height)
        sheet = Image.new("RGB", size, _SPACING_COLOURS[v["spacing_color"]])
        sheet.paste(a, (0, 0))
        sheet.paste(b, (a.width + gap, 0) if across else (0, a.height + gap))
        stitched.append(sheet)
    return (stitched,), None


def repeat_image_batch(_: Folders, v: dict) -> RunResult:
    return ([frame.copy() for _ in range(v["amount"]) for frame in v["image"]],), None


def image_add_noise(_: Folders, v: dict) -> RunResult:
    """Seeded noise over the whole batch, so each frame differs (ComfyUI's ImageAddNoise)."""
    generator = np.random.default_rng(v["seed"])
    noisy = []
    for frame in v["image"]:
        pixels = np.asarray(frame.convert("RGB"), dtype=np.float32) / 255.0
        pixels = np.clip(pixels + v["strength"] * generator.standard_normal(pixels.shape), 0.0, 1.0)
        noisy.append(Image.fromarray((pixels * 255.0).round().astype(np.uint8), "RGB"))
    return (noisy,), None


def upscale_model_loader(folders: Folders, v: dict) -> RunResult:
    return (folders.upscale_models[v["model_name"]],), None


def image_upscale_with_model(_: Folders, v: dict) -> RunResult:
    factor = v["upscale_model"]
    upscaled = [frame.resize((frame.width * factor, frame.height * factor), Image.Resampling.LANCZOS) for frame in v["image"]]
    return (upscaled,), None


def primitive_string(_: Folders, v: dict) -> RunResult:
    return (v["value"],), None


# ---------------------------------------------------------------- saving (real naming: <prefix>_<counter:05>_.<ext>)


def _save_path(folders: Folders, prefix: str, extension: str) -> tuple[Path, str, str]:
    subfolder, _, name = prefix.rpartition("/")
    folder = folders.output / subfolder
    folder.mkdir(parents=True, exist_ok=True)
    counter = len(list(folder.glob(f"{name}_*_.{extension}"))) + 1
    filename = f"{name}_{counter:05d}_.{extension}"
    return folder / filename, filename, subfolder


def save_image(folders: Folders, v: dict) -> RunResult:
    files = []
    for frame in v["images"]:
        path, filename, subfolder = _save_path(folders, v["filename_prefix"], "png")
        frame.save(path, format="PNG")
        files.append({"filename": filename, "subfolder": subfolder, "type": "output"})
    return (), {"images": files}


def save_animated_webp(folders: Folders, v: dict) -> RunResult:
    path, filename, subfolder = _save_path(folders, v["filename_prefix"], "webp")
    first, *rest = v["images"]
    first.save(
        path, format="WEBP", save_all=True, append_images=rest, duration=round(1000 / v["fps"]), loop=0,
        lossless=v["lossless"], quality=v["quality"],
    )
    return (), {"images": [{"filename": filename, "subfolder": subfolder, "type": "output"}], "animated": [True]}


def create_video(_: Folders, v: dict) -> RunResult:
    return ((list(v["images"]), v["fps"]),), None


def save_video(folders: Folders, v: dict) -> RunResult:
    frames, fps = v["video"]
    path, filename, subfolder = _save_path(folders, v["filename_prefix"], "mp4")
    with tempfile.TemporaryDirectory(dir=folders.temp) as scratch:
        for index, frame in enumerate(frames):
            frame.save(Path(scratch) / f"{index:05d}.png")
        subprocess.run(
            [str(locate_ffmpeg()), "-hide_banner", "-loglevel", "error", "-y", "-framerate", f"{fps:g}",
             "-i", str(Path(scratch) / "%05d.png"), "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2",
             "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
            check=True, capture_output=True,
        )
    return (), {"images": [{"filename": filename, "subfolder": subfolder, "type": "output"}], "animated": [True]}


# ---------------------------------------------------------------- the registry

SIDE = Input("INT", 0, 16384)


def node_classes(upscale_models: tuple[str, ...]) -> dict[str, NodeClass]:
    image = Input("IMAGE")
    return {
        "EmptyImage": NodeClass(
            {"width": Input("INT", 1, 16384), "height": Input("INT", 1, 16384), "batch_size": Input("INT", 1, 4096),
             "color": Input("INT", 0, 0xFFFFFF)},
            ("IMAGE",), empty_image,
        ),
        "LoadImage": NodeClass(
            {"image": Input("STRING", listing=input_files)}, ("IMAGE", "MASK"), load_image, custom_check=load_image_check
        ),
        "ImageScale": NodeClass(
            {"image": image, "upscale_method": Input(tuple(_RESAMPLE)), "width": SIDE, "height": SIDE,
             "crop": Input(("disabled", "center"))},
            ("IMAGE",), image_scale,
        ),
        "ImageInvert": NodeClass({"image": image}, ("IMAGE",), image_invert),
        "ImageBlend": NodeClass(
            {"image1": image, "image2": image, "blend_factor": Input("FLOAT", 0.0, 1.0),
             "blend_mode": Input(("normal", *_BLENDS))},
            ("IMAGE",), image_blend,
        ),
        "ImageStitch": NodeClass(
            {"image1": image, "direction": Input(("right", "down", "left", "up")), "match_image_size": Input("BOOLEAN"),
             "spacing_width": Input("INT", 0, 1024), "spacing_color": Input(tuple(_SPACING_COLOURS))},
            ("IMAGE",), image_stitch, optional={"image2": image},
        ),
        "RepeatImageBatch": NodeClass({"image": image, "amount": Input("INT", 1, 4096)}, ("IMAGE",), repeat_image_batch),
        "ImageAddNoise": NodeClass(
            {"image": image, "seed": Input("INT", 0, 2**64 - 1), "strength": Input("FLOAT", 0.0, 1.0)},
            ("IMAGE",), image_add_noise,
        ),
        "UpscaleModelLoader": NodeClass({"model_name": Input(upscale_models)}, ("UPSCALE_MODEL",), upscale_model_loader),
        "ImageUpscaleWithModel": NodeClass(
            {"upscale_model": Input("UPSCALE_MODEL"), "image": image}, ("IMAGE",), image_upscale_with_model
        ),
        "PrimitiveStringMultiline": NodeClass({"value": Input("STRING")}, ("STRING",), primitive_string),
        "SaveImage": NodeClass({"images": image, "filename_prefix": Input("STRING")}, (), save_image, output_node=True),
        "SaveAnimatedWEBP": NodeClass(
            {"images": image, "filename_prefix": Input("STRING"), "fps": Input("FLOAT", 0.01, 1000.0),
             "lossless": Input("BOOLEAN"), "quality": Input("INT", 0, 100), "method": Input(("default", "fastest", "slowest"))},
            (), save_animated_webp, output_node=True,
        ),
        "CreateVideo": NodeClass(
            {"images": image, "fps": Input("FLOAT", 1.0, 120.0)}, ("VIDEO",), create_video, optional={"audio": Input("AUDIO")}
        ),
        "SaveVideo": NodeClass(
            {"video": Input("VIDEO"), "filename_prefix": Input("STRING"), "format": Input(("auto", "mp4")),
             "codec": Input(("auto", "h264"))},
            (), save_video, output_node=True,
        ),
    }
