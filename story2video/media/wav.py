"""Writing speech the way the pipeline stores it: a WAV of 16-bit little-endian PCM, mono."""

from __future__ import annotations

import wave
from pathlib import Path

SAMPLE_WIDTH = 2  # bytes per sample


def write_mono_wav(dest: Path, pcm: bytes, sample_rate: int) -> None:
    """``pcm`` (s16le samples, one channel) as a WAV file at ``dest``."""
    if len(pcm) % SAMPLE_WIDTH:
        raise ValueError(f"{len(pcm)} bytes is not a whole number of 16-bit samples")
    with wave.open(str(dest), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(SAMPLE_WIDTH)
        out.setframerate(sample_rate)
        out.writeframes(pcm)


def read_mono_wav(path: Path) -> tuple[bytes, int]:
    """The s16le samples and rate of a WAV written by ``write_mono_wav`` (16-bit, one channel)."""
    with wave.open(str(path), "rb") as audio:
        if audio.getnchannels() != 1 or audio.getsampwidth() != SAMPLE_WIDTH:
            raise ValueError(f"{path.name} is {audio.getnchannels()}-channel {8 * audio.getsampwidth()}-bit; expected 16-bit mono")
        return audio.readframes(audio.getnframes()), audio.getframerate()


def silence(seconds: float, sample_rate: int) -> bytes:
    return bytes(SAMPLE_WIDTH * round(seconds * sample_rate))
