"""Speech audio from DashScope (raw PCM, WAV or MP3) written as the WAV the pipeline expects:
PCM s16le, mono."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app_api.dashscope.errors import BACKEND
from story2video.errors import InvalidArtifact
from story2video.media.ffmpeg import run_ffmpeg
from story2video.media.wav import write_mono_wav
from story2video.util.workdirs import work_folder

CONVERT_TIMEOUT_S = 120.0


async def write_speech_wav(audio: bytes, audio_format: str, sample_rate: int, dest: Path, ffmpeg: Path) -> None:
    if not audio:
        raise InvalidArtifact("DashScope speech synthesis returned no audio", backend=BACKEND)
    if audio_format == "pcm":
        await asyncio.to_thread(_write_pcm, audio, sample_rate, dest)
        return
    with work_folder("tts-") as folder:
        source = Path(folder) / f"speech.{audio_format}"
        await asyncio.to_thread(source.write_bytes, audio)
        args = ["-i", str(source), "-ac", "1", "-ar", str(sample_rate), "-c:a", "pcm_s16le", "-f", "wav", str(dest)]
        await run_ffmpeg(ffmpeg, args, timeout=CONVERT_TIMEOUT_S)


def _write_pcm(audio: bytes, sample_rate: int, dest: Path) -> None:
    if len(audio) % 2:
        raise InvalidArtifact(f"DashScope sent {len(audio)} bytes of 16-bit PCM (an odd count)", backend=BACKEND)
    write_mono_wav(dest, audio, sample_rate)
