"""Writing speech the way the pipeline stores it: a WAV of 16-bit little-endian PCM, mono."""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Sequence

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


def mono_wav_bytes(pcm: bytes, sample_rate: int) -> bytes:
    """``pcm`` (s16le mono) as the bytes of a WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(SAMPLE_WIDTH)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def keep_spans(pcm: bytes, sample_rate: int, spans: Sequence[tuple[float, float]], lead_in: float) -> bytes:
    """``lead_in`` seconds of silence, then ``pcm`` with everything outside ``spans`` (seconds into
    ``pcm``) silenced: the same length, the kept parts where they were."""
    kept = bytearray(len(pcm))
    for start, end in spans:
        first = min(len(pcm), SAMPLE_WIDTH * max(0, round(start * sample_rate)))
        last = min(len(pcm), SAMPLE_WIDTH * max(0, round(end * sample_rate)))
        kept[first:last] = pcm[first:last]
    return silence(lead_in, sample_rate) + bytes(kept)


def first_seconds(pcm: bytes, sample_rate: int, seconds: float) -> bytes:
    """The first ``seconds`` of ``pcm`` (s16le mono), all of it when shorter."""
    return pcm[: SAMPLE_WIDTH * max(0, round(seconds * sample_rate))]
