"""Make an H.264 MP4 of whatever animation or video a workflow saved, and measure it.

Animated WebP, GIF and APNG are decoded with Pillow (FFmpeg builds differ in animated-WebP
support) and encoded from their frames; video containers (mp4, webm, mov, mkv) go to FFmpeg
directly. Everything is re-encoded to yuv420p H.264 with even sides, without audio.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageSequence, UnidentifiedImageError

from app_local.comfy.failures import BACKEND
from story2video.errors import InvalidArtifact, without_paths
from story2video.media.clips import clip_encode_args
from story2video.media.ffmpeg import run_ffmpeg
from story2video.media.probe import aprobe
from story2video.providers.base import StageContext

PILLOW_ANIMATIONS = {".webp", ".gif", ".png", ".apng"}
ENCODE_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class ClipEncoder:
    ffmpeg: Path
    preset: str
    crf: int

    async def to_mp4(self, source: Path, dest: Path, fallback_fps: float, ctx: StageContext) -> float:
        """Encode ``source`` to ``dest``; the MP4's measured duration in seconds."""
        if source.suffix.lower() in PILLOW_ANIMATIONS:
            frames = source.parent / f"{source.stem}-frames"
            rate = await asyncio.to_thread(write_frames, source, frames, fallback_fps)
            inputs = ["-framerate", f"{rate:.6g}", "-i", str(frames / "%05d.png")]
        else:
            inputs = ["-i", str(source)]
        await run_ffmpeg(self.ffmpeg, [*inputs, *self._encode_args(), str(dest)], ctx=ctx, timeout=ENCODE_TIMEOUT_S)
        return await measured_duration(self.ffmpeg, dest)

    def _encode_args(self) -> list[str]:
        return clip_encode_args(self.preset, self.crf)


def write_frames(source: Path, folder: Path, fallback_fps: float) -> float:
    """Write every frame of an animated image as ``folder/00000.png``...; its frame rate."""
    folder.mkdir()
    total_ms = 0.0
    count = 0
    try:
        with Image.open(source) as animation:
            for count, frame in enumerate(ImageSequence.Iterator(animation), start=1):
                frame.load()  # a frame's duration is known once it is decoded
                total_ms += float(frame.info.get("duration") or 0)
                frame.convert("RGB").save(folder / f"{count - 1:05d}.png")
    except (UnidentifiedImageError, OSError, EOFError) as exc:
        raise InvalidArtifact(
            f"ComfyUI's output {source.name} is not a readable animation: {without_paths(str(exc))}", backend=BACKEND
        ) from exc
    if count == 0:
        raise InvalidArtifact(f"ComfyUI's output {source.name} has no frames", backend=BACKEND)
    return count * 1000.0 / total_ms if total_ms > 0 else fallback_fps


async def measured_duration(ffmpeg: Path, path: Path) -> float:
    info = await aprobe(ffmpeg, path)
    if info.video is None or info.duration <= 0:
        raise InvalidArtifact("the clip made from ComfyUI's output has no video or no duration", backend=BACKEND)
    return info.duration
