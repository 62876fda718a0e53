"""ComfyUI backend of local mode: keyframes and clips from operator-supplied workflows on a pool of hosts.

    workflow.py   API-format workflow + binding (which node input gets which value), checked at start-up
    client.py     HTTP routes of one host (httpx)          socket.py   /ws progress socket (thread)
    prompt.py     run one prompt on one host until its history holds the outputs
    pool.py       least-loaded dispatch, down-marking, retry on another host
    inventory.py  which model files and node classes a workflow needs; does a host have them (/object_info)
    runner.py     upload -> prompt -> download on one host  outputs.py  find result files in the history
    images.py     ComfyImageGenerator                       clips.py    ComfyVideoGenerator
    sizes.py      generation sizes                          transcode.py  any animation/video -> H.264 MP4
    ledger.py     how a queued prompt is noted in the job ledger (host|prompt_id), so a takeover resumes it

Both providers of a process share one host pool, so a host found dead by one is skipped by the other.
"""

from __future__ import annotations

import threading
import weakref

from app_local.comfy.clips import ComfyVideoGenerator
from app_local.comfy.images import ComfyImageGenerator
from app_local.comfy.pool import ComfyHostPool
from app_local.comfy.prompt import JobTimings
from app_local.comfy.runner import WorkflowRunner
from app_local.comfy.workflow import load_workflow
from story2video.config import Settings
from story2video.media.clips import ClipEncoder
from story2video.media.ffmpeg import locate_ffmpeg

__all__ = [
    "ComfyImageGenerator",
    "ComfyVideoGenerator",
    "build_image_generator",
    "build_video_generator",
    "is_configured",
    "shared_pool",
]

# Pools live as long as a provider holds them (the providers of one process share one).
_POOLS: weakref.WeakValueDictionary[tuple, ComfyHostPool] = weakref.WeakValueDictionary()
_POOLS_LOCK = threading.Lock()


def is_configured(settings: Settings) -> bool:
    return bool(settings.comfy_host_list)


def build_image_generator(settings: Settings) -> ComfyImageGenerator:
    """Load and check the text-to-image workflow and its binding (ConfigurationError if they disagree)."""
    workflow = load_workflow(settings.comfy_image_workflow, "image")
    return ComfyImageGenerator(workflow, _runner(settings))


def build_video_generator(settings: Settings) -> ComfyVideoGenerator:
    """Load and check the image-to-video workflow and its binding; find FFmpeg for the MP4 conversion."""
    workflow = load_workflow(settings.comfy_video_workflow, "video")
    encoder = ClipEncoder(ffmpeg=locate_ffmpeg(settings.ffmpeg_binary), preset=settings.x264_preset, crf=settings.video_crf)
    return ComfyVideoGenerator(workflow, _runner(settings), encoder)


def shared_pool(settings: Settings) -> ComfyHostPool:
    """The process's pool for these hosts and pool settings."""
    key = (
        tuple(settings.comfy_host_list),
        settings.comfy_request_timeout_s,
        settings.comfy_health_interval_s,
        settings.comfy_max_attempts,
    )
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = ComfyHostPool(
                settings.comfy_host_list,
                request_timeout_s=settings.comfy_request_timeout_s,
                health_interval_s=settings.comfy_health_interval_s,
                max_attempts=settings.comfy_max_attempts,
            )
            _POOLS[key] = pool
        return pool


def _runner(settings: Settings) -> WorkflowRunner:
    timings = JobTimings(
        request_timeout_s=settings.comfy_request_timeout_s,
        job_timeout_s=settings.comfy_job_timeout_s,
        ws_stall_s=settings.comfy_ws_stall_s,
    )
    return WorkflowRunner(shared_pool(settings), timings)
