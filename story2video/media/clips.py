"""What every image-to-video backend shares: how many frames a clip request needs, and how a
backend's frames become an MP4 the composer can fit to the narration."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from story2video.errors import InvalidArtifact, InvalidRequest
from story2video.media.cliptypes import ClipRequest
from story2video.media.ffmpeg import run_ffmpeg
from story2video.media.probe import aprobe
from story2video.stagecontext import StageContext
from story2video.util.workdirs import work_folder

ENCODE_TIMEOUT_S = 600.0
FRAME_NAMES = "%05d.png"  # the frames ``write_frame_pngs`` writes, as FFmpeg's image-sequence pattern


@dataclass(frozen=True)
class ClipPlan:
    """What a backend is asked to generate for one clip."""

    width: int
    height: int
    fps: int
    frames: int


def clip_frames(request: ClipRequest, max_fps: int | None, max_frames: int | None) -> tuple[int, int]:
    """(fps, frames): the request's fps capped by the model's, frames ~ duration x fps capped by the model's.

    A clip shorter than the narration is fine: the composer holds its last frame (or slows it).
    """
    if not (math.isfinite(request.duration) and request.duration > 0):
        raise InvalidRequest(f"clip duration must be positive, got {request.duration}", param="duration")
    if request.fps <= 0:
        raise InvalidRequest(f"fps must be positive, got {request.fps}", param="fps")
    fps = min(request.fps, max_fps or request.fps)
    frames = max(1, math.ceil(request.duration * fps))
    return fps, min(frames, max_frames) if max_frames else frames


def clip_encode_args(preset: str, crf: int) -> list[str]:
    """FFmpeg output options for a generated clip: H.264 yuv420p with even sides, no audio."""
    return [
        "-an",
        "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p",
        "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
        "-movflags", "+faststart", "-f", "mp4",
    ]


def write_frame_pngs(frames: Iterable[Image.Image], folder: Path) -> int:
    """Each frame as ``folder/00000.png``, ``00001.png``... (lossless, quick to write); how many there were."""
    count = 0
    for count, frame in enumerate(frames, start=1):
        frame.convert("RGB").save(folder / (FRAME_NAMES % (count - 1)), compress_level=1)
    return count


@dataclass(frozen=True)
class ClipEncoder:
    """Makes a backend's frames, or the video file it saved, the H.264 MP4 a clip is stored as, and measures it."""

    ffmpeg: Path
    preset: str
    crf: int

    async def frames_to_mp4(self, frames: Iterable[Image.Image], fps: float, dest: Path, ctx: StageContext) -> float:
        """``frames`` shown at ``fps``, encoded to ``dest``; the MP4's duration in seconds."""
        with work_folder("clip-frames-") as folder:
            if not await asyncio.to_thread(write_frame_pngs, frames, Path(folder)):
                raise InvalidArtifact("the image-to-video backend returned no frames", stage="clips")
            return await self.sequence_to_mp4(Path(folder), fps, dest, ctx)

    async def sequence_to_mp4(self, folder: Path, fps: float, dest: Path, ctx: StageContext) -> float:
        """The frames ``write_frame_pngs`` wrote to ``folder``, shown at ``fps``, encoded to ``dest``."""
        return await self._encode(["-framerate", f"{fps:.6g}", "-i", str(folder / FRAME_NAMES)], dest, ctx)

    async def file_to_mp4(self, source: Path, dest: Path, ctx: StageContext) -> float:
        """A video file FFmpeg reads (mp4, webm, mov, mkv...) re-encoded to ``dest``."""
        return await self._encode(["-i", str(source)], dest, ctx)

    async def _encode(self, inputs: list[str], dest: Path, ctx: StageContext) -> float:
        await run_ffmpeg(self.ffmpeg, [*inputs, *clip_encode_args(self.preset, self.crf), str(dest)], ctx=ctx, timeout=ENCODE_TIMEOUT_S)
        info = await aprobe(self.ffmpeg, dest)
        if info.video is None or info.duration <= 0:
            raise InvalidArtifact(f"the clip {dest.name} has no video or no duration", stage="clips")
        return info.duration
