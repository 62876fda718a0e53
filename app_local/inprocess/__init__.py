"""In-process diffusers backends of local mode: keyframes and clips from pipelines under models/.

    manifest.py   models/manifest.json: names -> pipeline class, folder, dtype, defaults (no torch)
    libraries.py  lazy import of torch/diffusers (ConfigurationError naming requirements-gpu.txt)
    loading.py    class checks, devices, dtype, loading onto a device (offload, compile)
    batching.py   Work/Job and the queue that hands out compatible batches (micro-batching)
    worker.py     one thread per device: run batches, halve on out-of-memory, stop on a sticky CUDA error
    residency.py  the pipelines a device keeps (least recently used evicted), failed loads remembered
    compiling.py  DIFFUSERS_COMPILE: regional compile, one compile at a time, the recompile limit
    steps.py      callback_on_step_end: progress and cancellation (pipeline interrupt)
    reply.py      worker -> asyncio via loop.call_soon_threadsafe
    pool.py       the process's workers, shared by both generators; the asyncio side of a job
    images.py     DiffusersImageGenerator        clips.py  DiffusersVideoGenerator
    pictures.py   generation sizes, cover-fit    encode.py frames -> H.264 MP4

Importing this package imports no GPU package; building a generator does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app_local.inprocess.manifest import is_configured, load_model_spec
from story2video.config import Settings

if TYPE_CHECKING:
    from app_local.inprocess.clips import DiffusersVideoGenerator
    from app_local.inprocess.images import DiffusersImageGenerator
    from app_local.inprocess.libraries import GpuLibraries
    from app_local.inprocess.loading import LoadOptions
    from app_local.inprocess.pool import DevicePool

__all__ = ["build_image_generator", "build_video_generator", "is_configured"]


def build_image_generator(settings: Settings) -> DiffusersImageGenerator:
    """Check the manifest entry and the GPU packages; the model loads on its first use, then stays."""
    from app_local.inprocess.images import DiffusersImageGenerator
    from app_local.inprocess.libraries import gpu_libraries
    from app_local.inprocess.loading import pipeline_class

    libraries = gpu_libraries()
    spec = load_model_spec(settings, "image")
    pipeline_class(libraries, spec)
    generator = DiffusersImageGenerator(
        libraries, spec, _pool(libraries, settings), _options(settings),
        max_batch=settings.diffusers_max_batch, window_s=settings.diffusers_batch_window_s,
    )
    if settings.diffusers_warm_up:
        generator.warm_up(*_default_size(settings))
    return generator


def build_video_generator(settings: Settings) -> DiffusersVideoGenerator:
    """As ``build_image_generator``, plus the FFmpeg that encodes the frames."""
    from app_local.inprocess.clips import DiffusersVideoGenerator
    from app_local.inprocess.libraries import gpu_libraries
    from app_local.inprocess.loading import pipeline_class
    from story2video.media.clips import ClipEncoder
    from story2video.media.ffmpeg import locate_ffmpeg

    libraries = gpu_libraries()
    spec = load_model_spec(settings, "video")
    pipeline_class(libraries, spec)
    encoder = ClipEncoder(ffmpeg=locate_ffmpeg(settings.ffmpeg_binary), preset=settings.x264_preset, crf=settings.video_crf)
    generator = DiffusersVideoGenerator(
        libraries, spec, _pool(libraries, settings), _options(settings), encoder,
        max_batch=settings.diffusers_max_batch, window_s=settings.diffusers_batch_window_s,
    )
    if settings.diffusers_warm_up:
        generator.warm_up(*_default_size(settings))
    return generator


def _pool(libraries: GpuLibraries, settings: Settings) -> DevicePool:
    from app_local.inprocess.loading import devices
    from app_local.inprocess.pool import PoolOptions, shared_pool

    options = PoolOptions(max_loaded=settings.diffusers_max_loaded, load_retry_s=settings.diffusers_load_retry_s)
    return shared_pool(libraries, devices(libraries, settings), options)


def _default_size(settings: Settings) -> tuple[int, int]:
    """The picture size an operation with the default aspect and resolution asks for."""
    from story2video.media.encoding import output_size

    return output_size(settings.default_aspect_ratio, settings.default_resolution)


def _options(settings: Settings) -> LoadOptions:
    from app_local.inprocess.loading import LoadOptions

    return LoadOptions(compile=settings.diffusers_compile, cpu_offload=settings.diffusers_cpu_offload)
