"""Checking a manifest entry against diffusers, choosing devices, and loading a pipeline onto one device.

Loading happens on the device's worker thread, the first time a model is used there, and the pipeline
then stays in memory for the life of the process. On CUDA it runs in float16/bfloat16, on the CPU in
float32. Attention uses PyTorch's scaled_dot_product_attention: under torch 2 diffusers installs its
SDPA processors (e.g. ``AttnProcessor2_0``) by default, so nothing is overridden; the processors in
use are logged at load time.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from loguru import logger

from app_local.inprocess.adapters import attach_ip_adapter
from app_local.inprocess.libraries import GpuLibraries
from app_local.inprocess.manifest import ModelSpec, Stage
from story2video.config import Settings
from story2video.errors import ConfigurationError

# What the generators pass to every pipeline of a stage (other arguments only when the pipeline takes them).
REQUIRED_ARGUMENTS: dict[Stage, tuple[str, ...]] = {
    "image": ("prompt", "height", "width", "num_inference_steps", "generator", "callback_on_step_end", "output_type"),
    "video": ("image", "height", "width", "num_frames", "num_inference_steps", "generator", "callback_on_step_end", "output_type"),
}
DENOISERS = ("unet", "transformer")


@dataclass(frozen=True)
class LoadOptions:
    compile: bool
    cpu_offload: bool


def pipeline_class(libraries: GpuLibraries, spec: ModelSpec) -> Any:
    """The diffusers class the manifest names, checked to be a pipeline of the right kind for its stage."""
    where = f"model '{spec.name}' ({spec.pipeline})"
    cls = getattr(libraries.diffusers, spec.pipeline, None)
    if not (isinstance(cls, type) and issubclass(cls, libraries.diffusers.DiffusionPipeline)):
        raise ConfigurationError(f"{where}: diffusers {libraries.diffusers.__version__} has no pipeline class {spec.pipeline}")
    parameters = inspect.signature(cls.__call__).parameters
    missing = [name for name in REQUIRED_ARGUMENTS[spec.stage] if name not in parameters]
    if missing:
        kind = "text-to-image" if spec.stage == "image" else "image-to-video"
        raise ConfigurationError(f"{where} is not a {kind} pipeline: its call takes no {', '.join(missing)}")
    image = parameters.get("image")
    if spec.stage == "image" and image is not None and image.default is inspect.Parameter.empty:
        raise ConfigurationError(f"{where} needs an input image; keyframes need a text-to-image pipeline")
    return cls


def call_arguments(pipe: Any) -> frozenset[str]:
    return frozenset(inspect.signature(type(pipe).__call__).parameters)


def devices(libraries: GpuLibraries, settings: Settings) -> tuple[str, ...]:
    """One entry per worker: every visible CUDA device, or the CPU."""
    torch = libraries.torch
    wanted = settings.diffusers_device
    if wanted == "cpu" or (wanted == "auto" and not torch.cuda.is_available()):
        return ("cpu",)
    if not torch.cuda.is_available():
        raise ConfigurationError("DIFFUSERS_DEVICE=cuda, but torch sees no CUDA device (is the CUDA build of torch installed?)")
    return tuple(f"cuda:{index}" for index in range(torch.cuda.device_count()))


def torch_dtype(libraries: GpuLibraries, spec: ModelSpec, device: str) -> Any:
    torch = libraries.torch
    if not device.startswith("cuda"):
        return torch.float32  # half precision on the CPU is slow or unsupported
    if spec.dtype == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return getattr(torch, spec.dtype)


def load_pipeline(libraries: GpuLibraries, spec: ModelSpec, device: str, options: LoadOptions) -> Any:
    """Load ``spec``'s folder (local files only, safetensors) onto ``device``, ready to call."""
    cls = pipeline_class(libraries, spec)
    dtype = torch_dtype(libraries, spec, device)
    logger.info("loading diffusers model '{}' ({}) from {} onto {} as {}", spec.name, spec.pipeline, spec.path, device, dtype)
    pipe = cls.from_pretrained(spec.path, dtype=dtype, local_files_only=True, use_safetensors=True)
    attach_ip_adapter(pipe, spec)
    pipe.set_progress_bar_config(disable=True)
    if options.cpu_offload and device.startswith("cuda"):
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    denoiser = _denoiser(pipe)
    _log_attention(spec, denoiser)
    if options.compile:
        denoiser.compile()  # compiled on its first call, in place (the pipeline keeps the same module)
    return pipe


def _denoiser(pipe: Any) -> Any:
    for name in DENOISERS:
        module = getattr(pipe, name, None)
        if module is not None:
            return module
    raise ConfigurationError(f"{type(pipe).__name__} has neither a unet nor a transformer to run")


def _log_attention(spec: ModelSpec, denoiser: Any) -> None:
    processors = getattr(denoiser, "attn_processors", {})
    names = sorted({type(processor).__name__ for processor in processors.values()})
    logger.info("model '{}' attention processors: {}", spec.name, ", ".join(names) or "none")
