"""Frames from an image-to-video pipeline -> H.264 yuv420p MP4 via FFmpeg, and its measured duration."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from app_local.inprocess.worker import BACKEND
from story2video.errors import InvalidArtifact
from story2video.media.clips import clip_encode_args
from story2video.media.ffmpeg import run_ffmpeg
from story2video.media.probe import aprobe
from story2video.providers.base import StageContext
from story2video.util.workdirs import work_folder

ENCODE_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class FrameEncoder:
    ffmpeg: Path
    preset: str
    crf: int

    async def to_mp4(self, frames: list[Image.Image], fps: int, dest: Path, ctx: StageContext) -> float:
        """Encode ``frames`` at ``fps`` to ``dest``; the MP4's duration in seconds, as FFmpeg reads it."""
        if not frames:
            raise InvalidArtifact("the image-to-video pipeline returned no frames", stage="clips", backend=BACKEND)
        with work_folder("diffusers-frames-") as folder:
            await asyncio.to_thread(_write_frames, frames, Path(folder))
            args = ["-framerate", str(fps), "-i", str(Path(folder) / "%05d.png"), *self._encode_args(), str(dest)]
            await run_ffmpeg(self.ffmpeg, args, ctx=ctx, timeout=ENCODE_TIMEOUT_S)
        info = await aprobe(self.ffmpeg, dest)
        if info.video is None or info.duration <= 0:
            raise InvalidArtifact(f"the clip {dest.name} has no video or no duration", stage="clips", backend=BACKEND)
        return info.duration

    def _encode_args(self) -> list[str]:
        return clip_encode_args(self.preset, self.crf)


def _write_frames(frames: list[Image.Image], folder: Path) -> None:
    for index, frame in enumerate(frames):
        frame.convert("RGB").save(folder / f"{index:05d}.png", compress_level=1)
