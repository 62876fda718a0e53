"""Test inputs (PNG cards, WAV tones) and PyAV-based checks of what our FFmpeg runs wrote.

PyAV decodes with its own FFmpeg libraries, so these checks do not reuse the code under test.
"""

from __future__ import annotations

import hashlib
import math
import os
import wave
from array import array
from dataclasses import dataclass
from pathlib import Path

import av
from PIL import Image, ImageChops, ImageDraw, ImageStat

AUDIO_RATE = 48000
# Distinct, saturated card colours: the nearest one identifies a decoded frame.
PALETTE = [
    (220, 30, 30), (30, 200, 40), (40, 60, 230), (235, 220, 40),
    (220, 40, 220), (40, 220, 220), (245, 140, 20), (130, 40, 200),
]


# ------------------------------------------------------------------ inputs


def write_card(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


def write_target(path: Path, size: tuple[int, int]) -> Path:
    """Dark card with a white square in the middle: its box shows how the camera moved."""
    image = Image.new("RGB", size, (20, 20, 20))
    side = size[1] // 4
    left, top = (size[0] - side) // 2, (size[1] - side) // 2
    ImageDraw.Draw(image).rectangle([left, top, left + side - 1, top + side - 1], fill=(255, 255, 255))
    image.save(path)
    return path


def write_tone(path: Path, seconds: float, freq: float, *, rate: int = 16000, amplitude: float = 0.5) -> Path:
    """Mono 16-bit WAV holding one sine tone."""
    count = round(seconds * rate)
    peak = amplitude * 32767
    samples = array("h", (int(peak * math.sin(2 * math.pi * freq * n / rate)) for n in range(count)))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return path


# ------------------------------------------------------------------ streams


@dataclass(frozen=True)
class Streams:
    video_codec: str
    video_profile: str
    pix_fmt: str
    width: int
    height: int
    fps: float
    audio_codec: str
    sample_rate: int
    channels: int
    duration: float  # container
    video_duration: float
    audio_duration: float


def streams(path: Path) -> Streams:
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        return Streams(
            video_codec=video.codec_context.name,
            video_profile=str(video.codec_context.profile),
            pix_fmt=str(video.codec_context.pix_fmt),
            width=video.codec_context.width,
            height=video.codec_context.height,
            fps=float(video.average_rate),
            audio_codec=audio.codec_context.name,
            sample_rate=audio.codec_context.sample_rate,
            channels=audio.codec_context.channels,
            duration=container.duration / av.time_base,
            video_duration=float(video.duration * video.time_base),
            audio_duration=float(audio.duration * audio.time_base),
        )


def audio_packet_digests(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [hashlib.sha1(bytes(packet)).hexdigest() for packet in container.demux(audio=0) if packet.size]


def video_packet_digests(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [hashlib.sha1(bytes(packet)).hexdigest() for packet in container.demux(video=0) if packet.size]


# ------------------------------------------------------------------ pictures


def frames(path: Path) -> list[tuple[float, Image.Image]]:
    """Every decoded frame with its presentation time (small test files only)."""
    with av.open(str(path)) as container:
        return [(float(frame.time), frame.to_image()) for frame in container.decode(video=0)]


def frame_at(path: Path, seconds: float) -> Image.Image:
    """The last frame shown at ``seconds``."""
    shown = [image for time, image in frames(path) if time <= seconds + 1e-6]
    assert shown, f"no frame at {seconds:.3f} s in {path.name}"
    return shown[-1]


def mean_colour(image: Image.Image, box: tuple[int, int, int, int] | None = None) -> tuple[float, float, float]:
    region = image.convert("RGB").crop(box) if box else image.convert("RGB")
    red, green, blue = ImageStat.Stat(region).mean
    return red, green, blue


def nearest_palette_index(colour: tuple[float, float, float]) -> int:
    return min(range(len(PALETTE)), key=lambda i: sum((a - b) ** 2 for a, b in zip(colour, PALETTE[i])))


def colour_distance(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return math.dist(a, b)


def bright_box(image: Image.Image) -> tuple[int, int, int, int]:
    """Bounding box of the white square (pixels brighter than mid-grey)."""
    mask = image.convert("L").point(lambda value: 255 if value > 128 else 0)
    box = mask.getbbox()
    assert box is not None, "the white square is not in the frame"
    return box


def changed_pixels(a: Image.Image, b: Image.Image, box: tuple[int, int, int, int], threshold: int = 64) -> int:
    """How many pixels inside ``box`` differ by more than ``threshold`` in grey level."""
    diff = ImageChops.difference(a.convert("L").crop(box), b.convert("L").crop(box))
    return diff.point(lambda value: 255 if value > threshold else 0).histogram()[255]


# ------------------------------------------------------------------ sound


def audio_samples(path: Path) -> array:
    """The whole audio track as mono 16-bit samples at 48 kHz, in decoding order from t = 0."""
    samples = array("h")
    resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                samples.frombytes(bytes(out.planes[0])[: out.samples * 2])
    for out in resampler.resample(None):
        samples.frombytes(bytes(out.planes[0])[: out.samples * 2])
    return samples


def _window(samples: array, start: float, end: float) -> array:
    return samples[round(start * AUDIO_RATE) : round(end * AUDIO_RATE)]


def rms(samples: array, start: float, end: float) -> float:
    part = _window(samples, start, end)
    assert len(part) > 0, "empty audio window"
    return math.sqrt(sum(value * value for value in part) / len(part))


def tone_level(samples: array, start: float, end: float, freq: float) -> float:
    """Amplitude of the ``freq`` Hz component in the window (Goertzel)."""
    part = _window(samples, start, end)
    coefficient = 2 * math.cos(2 * math.pi * freq / AUDIO_RATE)
    previous = before = 0.0
    for value in part:
        previous, before = value + coefficient * previous - before, previous
    power = previous * previous + before * before - coefficient * previous * before
    return 2 * math.sqrt(max(power, 0.0)) / len(part)


def onset(samples: array, after: float, threshold: int) -> float:
    """Time of the first sample at or after ``after`` seconds whose magnitude reaches ``threshold``."""
    index = round(after * AUDIO_RATE)
    while index < len(samples) and abs(samples[index]) < threshold:
        index += 1
    assert index < len(samples), f"no sound after {after:.3f} s"
    return index / AUDIO_RATE


# ------------------------------------------------------------------ processes


def child_processes() -> list[tuple[int, str]]:
    """(pid, command name) of this process's children, zombies included."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == os.getpid():
            children.append((int(entry.name), name))
    return children
