"""Checking a manifest entry against diffusers, choosing devices, and loading a pipeline onto one device.

Loading happens on the device's worker thread, the first time a model is used there (or at start-up
with DIFFUSERS_WARM_UP); the worker keeps the few most recently used pipelines (residency.py). On CUDA
it runs in float16/bfloat16 (bfloat16 for ``dtype: auto`` only where the device has it natively:
compute capability 8.0 or newer), on the CPU in float32. The VAE decodes one image at a time
(slicing), so a batch's decode needs no more memory than a single image's. Attention uses PyTorch's scaled_dot_product_attention: under torch 2 diffusers installs its
SDPA processors (e.g. ``AttnProcessor2_0``) by default, so nothing is overridden; the processors in
use are logged at load time.
"""

from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass
from typing import Any

from loguru import logger

from app_local.inprocess.compiling import compile_denoiser

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
# from_pretrained builds models under accelerate's init_empty_weights, which patches torch.nn.Module for the
# whole process: two loads at once (two GPUs' workers) put one another's weights on the "meta" device.
_FROM_PRETRAINED_LOCK = threading.Lock()


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
        return torch.bfloat16 if has_native_bfloat16(libraries, device) else torch.float16
    return getattr(torch, spec.dtype)


def has_native_bfloat16(libraries: GpuLibraries, device: str) -> bool:
    """Compute capability 8.0+ (Ampere on). ``torch.cuda.is_bf16_supported()`` also counts emulation, which
    older cards (T4, V100, RTX 20xx) run far slower than float16 and without bfloat16 convolutions."""
    major, _ = libraries.torch.cuda.get_device_capability(libraries.torch.device(device))
    return major >= 8


def load_pipeline(libraries: GpuLibraries, spec: ModelSpec, device: str, options: LoadOptions) -> Any:
    """Load ``spec``'s folder (local files only, safetensors) onto ``device``, ready to call."""
    cls = pipeline_class(libraries, spec)
    dtype = torch_dtype(libraries, spec, device)
    logger.info("loading diffusers model '{}' ({}) from {} onto {} as {}{}", spec.name, spec.pipeline, spec.path, device, dtype,
                f", variant {spec.variant}" if spec.variant else "")
    with _FROM_PRETRAINED_LOCK:
        pipe = cls.from_pretrained(spec.path, dtype=dtype, variant=spec.variant, local_files_only=True, use_safetensors=True)
    attach_ip_adapter(pipe, spec)
    pipe.set_progress_bar_config(disable=True)
    if options.cpu_offload and device.startswith("cuda"):
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    _economise_decode(spec, pipe)
    denoiser = _denoiser(pipe)
    _log_attention(spec, denoiser)
    if options.compile:
        how = compile_denoiser(denoiser)
        logger.info("model '{}': {} compiled on first use ({})", spec.name, type(denoiser).__name__, how)
    return pipe


def _economise_decode(spec: ModelSpec, pipe: Any) -> None:
    """Slicing for every VAE that has it (SVD's temporal decoder decodes in ``decode_chunk_size`` frames instead)."""
    vae = getattr(pipe, "vae", None)
    if hasattr(vae, "use_slicing"):  # diffusers' own test: its enable_slicing raises without it
        vae.enable_slicing()
    if spec.vae_tiling:
        if not hasattr(vae, "use_tiling"):
            raise ConfigurationError(f"model '{spec.name}': \"vae_tiling\" is set, but its {type(vae).__name__} cannot decode in tiles")
        vae.enable_tiling()


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
