"""Independent checks of our media with PyAV (its own FFmpeg libraries), not our own probe code."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

THUMB = (32, 18)


@dataclass
class StreamsInfo:
    video_codec: str | None
    audio_codec: str | None
    width: int
    height: int
    duration: float


def streams(path: Path | bytes) -> StreamsInfo:
    with av.open(_source(path)) as container:
        video = next((s for s in container.streams if s.type == "video"), None)
        audio = next((s for s in container.streams if s.type == "audio"), None)
        return StreamsInfo(
            video_codec=video.codec_context.name if video else None,
            audio_codec=audio.codec_context.name if audio else None,
            width=video.codec_context.width if video else 0,
            height=video.codec_context.height if video else 0,
            duration=container.duration / av.time_base if container.duration else 0.0,
        )


def frame_at(path: Path | bytes, seconds: float) -> Image.Image:
    """The first decoded video frame at or after ``seconds``."""
    with av.open(_source(path)) as container:
        stream = container.streams.video[0]
        container.seek(int(seconds / stream.time_base), stream=stream, backward=True, any_frame=False)
        for frame in container.decode(stream):
            if frame.time is not None and frame.time + 1e-3 >= seconds:
                return frame.to_image()
    raise AssertionError(f"no frame at {seconds:.2f}s")


def audio_rms(path: Path | bytes, start: float, end: float) -> float:
    """RMS of the (mono-mixed) audio between ``start`` and ``end`` seconds, samples in -1..1."""
    chunks = []
    with av.open(_source(path)) as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            samples = frame.to_ndarray().astype(np.float64)
            if samples.ndim == 2 and samples.shape[0] > 1 and not frame.format.is_planar:
                samples = samples.reshape(-1, frame.layout.nb_channels).T
            mono = samples.mean(axis=0) if samples.ndim == 2 else samples
            times = frame.time + np.arange(mono.shape[-1]) / frame.sample_rate
            chunks.append(mono[(times >= start) & (times < end)])
    data = np.concatenate(chunks) if chunks else np.zeros(0)
    return math.sqrt(float(np.mean(data**2))) if data.size else 0.0


def thumbnail(image: Image.Image, size: tuple[int, int] = THUMB) -> np.ndarray:
    return np.asarray(image.convert("RGB").resize(size, Image.Resampling.BOX), dtype=np.float64)


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a - b)))


def _source(path: Path | bytes):
    return io.BytesIO(path) if isinstance(path, bytes) else str(path)
