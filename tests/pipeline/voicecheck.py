"""Measuring speech in tests: the median pitch of a stretch of a WAV (autocorrelation per frame)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as audio:
        rate = audio.getframerate()
        samples = np.frombuffer(audio.readframes(audio.getnframes()), dtype="<i2").astype(np.float64)
    return samples, rate


def median_pitch(samples: np.ndarray, rate: int, start: float, end: float, low: float = 60.0, high: float = 400.0) -> float:
    """Median fundamental frequency (Hz) of the voiced 40 ms frames in [start, end]."""
    stretch = samples[int(start * rate) : int(end * rate)]
    frame = int(0.04 * rate)
    loudest = np.abs(stretch).max() if stretch.size else 0.0
    shortest, longest = int(rate / high), int(rate / low)
    pitches = []
    for begin in range(0, stretch.size - frame, frame // 2):
        piece = stretch[begin : begin + frame]
        if np.sqrt(np.mean(piece**2)) < 0.1 * loudest:
            continue
        piece = piece - piece.mean()
        correlation = np.correlate(piece, piece, mode="full")[frame - 1 :]
        if correlation[0] <= 0:
            continue
        lags = correlation[shortest:longest] / correlation[0]
        best = int(np.argmax(lags))
        if lags[best] > 0.4:  # clearly periodic: a voiced frame
            pitches.append(rate / (shortest + best))
    if not pitches:
        raise AssertionError(f"no voiced frame between {start:.2f} s and {end:.2f} s")
    return float(np.median(pitches))
