"""Check every artifact a backend wrote before it is stored or handed to FFmpeg."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from story2video.errors import InvalidArtifact
from story2video.media.probe import aprobe


def png_validator(width: int, height: int):
    async def validate(path: Path) -> None:
        await asyncio.to_thread(_check_png, path, width, height)

    return validate


def _check_png(path: Path, width: int, height: int) -> None:
    try:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            kind, size = image.format, image.size
    except UnidentifiedImageError as error:
        raise InvalidArtifact("the keyframe is not an image file") from error
    except (OSError, SyntaxError) as error:
        raise InvalidArtifact(f"the keyframe image is damaged ({type(error).__name__})") from error
    if kind != "PNG":
        raise InvalidArtifact(f"the keyframe is {kind}, expected PNG")
    if size != (width, height):
        raise InvalidArtifact(f"the keyframe is {size[0]}x{size[1]}, expected {width}x{height}")


async def validate_wav(path: Path) -> None:
    await asyncio.to_thread(_check_wav, path)


def _check_wav(path: Path) -> None:
    try:
        with wave.open(str(path), "rb") as audio:
            frames, rate = audio.getnframes(), audio.getframerate()
    except (wave.Error, EOFError, OSError) as error:
        raise InvalidArtifact(f"the narration is not a readable WAV file: {error}") from error
    if frames == 0 or rate <= 0:
        raise InvalidArtifact("the narration audio is empty")


def mp4_validator(ffmpeg: Path, *, require_audio: bool):
    async def validate(path: Path) -> None:
        info = await aprobe(ffmpeg, path)
        if info.video is None:
            raise InvalidArtifact("the video file has no video stream")
        if require_audio and info.audio is None:
            raise InvalidArtifact("the video file has no audio stream")
        if not info.duration or info.duration <= 0:
            raise InvalidArtifact("the video file has no duration")

    return validate


async def composed_mp4(path: Path) -> None:
    """An MP4 the composer wrote: it already probed the file for its streams and length
    (``confirmed_duration``), so it is not probed a second time here."""
    size = await asyncio.to_thread(lambda: path.stat().st_size if path.is_file() else 0)
    if size == 0:
        raise InvalidArtifact("the composer wrote no video file")


async def validate_srt(path: Path) -> None:
    text = await asyncio.to_thread(path.read_text, "utf-8")
    if "-->" not in text:
        raise InvalidArtifact("the subtitle file has no cues")
