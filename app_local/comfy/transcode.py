"""Make an H.264 MP4 of whatever animation or video a workflow saved, and measure it.

Animated WebP, GIF and APNG are decoded with Pillow (FFmpeg builds differ in animated-WebP
support) and encoded from their frames; video containers (mp4, webm, mov, mkv) go to FFmpeg
directly. Everything is re-encoded to yuv420p H.264 with even sides, without audio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, ImageSequence, UnidentifiedImageError

from app_local.comfy.failures import BACKEND
from story2video.errors import InvalidArtifact, without_paths
from story2video.media.clips import ClipEncoder, write_frame_pngs
from story2video.providers.base import StageContext

PILLOW_ANIMATIONS = {".webp", ".gif", ".png", ".apng"}


async def output_to_mp4(encoder: ClipEncoder, source: Path, dest: Path, fallback_fps: float, ctx: StageContext) -> float:
    """Encode the workflow's output ``source`` to ``dest``; the MP4's measured duration in seconds."""
    if source.suffix.lower() not in PILLOW_ANIMATIONS:
        return await encoder.file_to_mp4(source, dest, ctx)
    frames = source.parent / f"{source.stem}-frames"
    rate = await asyncio.to_thread(write_frames, source, frames, fallback_fps)
    return await encoder.sequence_to_mp4(frames, rate, dest, ctx)


def write_frames(source: Path, folder: Path, fallback_fps: float) -> float:
    """Write every frame of an animated image as ``folder/00000.png``...; its frame rate."""
    folder.mkdir()
    durations_ms: list[float] = []

    def decoded() -> Iterator[Image.Image]:
        with Image.open(source) as animation:
            for frame in ImageSequence.Iterator(animation):
                frame.load()  # a frame's duration is known once it is decoded
                durations_ms.append(float(frame.info.get("duration") or 0))
                yield frame

    try:
        count = write_frame_pngs(decoded(), folder)
    except (UnidentifiedImageError, OSError, EOFError) as exc:
        raise InvalidArtifact(
            f"ComfyUI's output {source.name} is not a readable animation: {without_paths(str(exc))}", backend=BACKEND
        ) from exc
    if count == 0:
        raise InvalidArtifact(f"ComfyUI's output {source.name} has no frames", backend=BACKEND)
    total_ms = sum(durations_ms)
    return count * 1000.0 / total_ms if total_ms > 0 else fallback_fps
