"""What a media file holds, read from ``ffmpeg -i FILE`` (no ffprobe ships with imageio-ffmpeg).

``ffmpeg -i`` with no output prints the input's description to stderr and exits non-zero; we parse
that description. Durations are reported by FFmpeg with 10 ms resolution.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

from story2video.errors import InvalidArtifact

PROBE_TIMEOUT_S = 30.0

_INPUT_RE = re.compile(r"^Input #0, ", re.MULTILINE)
_DURATION_RE = re.compile(r"Duration: (?:(\d+):(\d+):(\d+(?:\.\d+)?)|N/A)")
_STREAM_RE = re.compile(r"^\s*Stream #0:\d+.*?: (Video|Audio): (.*)$", re.MULTILINE)
_SIZE_RE = re.compile(r"(?:^|[\s,])(\d{1,5})x(\d{1,5})(?=[\s,\[]|$)")
_FPS_RE = re.compile(r"([\d.]+)(k?) (fps|tbr)")
_RATE_RE = re.compile(r"(\d+) Hz")
_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "3.0": 3, "quad": 4, "4.0": 4, "5.0": 5, "5.1": 6, "6.1": 7, "7.1": 8}


@dataclass(frozen=True)
class VideoStream:
    codec: str
    width: int
    height: int
    fps: float | None  # None for a still image without a frame rate


@dataclass(frozen=True)
class AudioStream:
    codec: str
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class MediaInfo:
    duration: float  # seconds; 0.0 when FFmpeg reports none (e.g. a single image)
    video: VideoStream | None
    audio: AudioStream | None
    duration_estimated: bool = False  # no header states it: FFmpeg guessed it from size and bitrate


def probe(ffmpeg: Path, path: Path) -> MediaInfo:
    """Describe ``path``; raise InvalidArtifact when FFmpeg cannot read it."""
    try:
        done = subprocess.run(
            _probe_command(ffmpeg, path),
            capture_output=True,
            timeout=PROBE_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise InvalidArtifact(f"probing {path.name} took longer than {PROBE_TIMEOUT_S:g} s") from exc
    return parse_probe_output(done.stderr.decode("utf-8", errors="replace"), path)


async def aprobe(ffmpeg: Path, path: Path, *, input_format: str = "") -> MediaInfo:
    """``probe`` for async code: the subprocess does not block the event loop. ``input_format``
    forces FFmpeg's demuxer (and lets it open local files only), for files sent by users."""
    process = await asyncio.create_subprocess_exec(
        *_probe_command(ffmpeg, path, input_format),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), PROBE_TIMEOUT_S)
    except asyncio.TimeoutError as exc:
        raise InvalidArtifact(f"probing {path.name} took longer than {PROBE_TIMEOUT_S:g} s") from exc
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.shield(process.wait())
    return parse_probe_output(stderr.decode("utf-8", errors="replace"), path)


def _probe_command(ffmpeg: Path, path: Path, input_format: str = "") -> list[str]:
    forced = ["-protocol_whitelist", "file", "-f", input_format] if input_format else []
    return [str(ffmpeg), "-hide_banner", "-nostdin", *forced, "-i", str(path)]


def parse_probe_output(text: str, path: Path) -> MediaInfo:
    """Parse the input description ``ffmpeg -i`` prints; InvalidArtifact when there is none."""
    if not _INPUT_RE.search(text):
        reason = _last_line(text)
        raise InvalidArtifact(f"{path.name} is not a media file FFmpeg can read: {reason}")
    video = audio = None
    for kind, description in _STREAM_RE.findall(text):
        if kind == "Video" and video is None and "(attached pic)" not in description:
            video = _video_stream(description)
        elif kind == "Audio" and audio is None:
            audio = _audio_stream(description)
    if video is None and audio is None:
        raise InvalidArtifact(f"{path.name} has neither a video nor an audio stream")
    estimated = "Estimating duration from bitrate" in text
    return MediaInfo(duration=_duration(text), video=video, audio=audio, duration_estimated=estimated)


def _duration(text: str) -> float:
    match = _DURATION_RE.search(text)
    if match is None or match.group(1) is None:
        return 0.0
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _codec(description: str) -> str:
    return re.split(r"[\s,(]", description.strip(), maxsplit=1)[0]


def _video_stream(description: str) -> VideoStream:
    size = _SIZE_RE.search(description)
    if size is None:
        raise InvalidArtifact(f"video stream without a frame size: {description}")
    fps = None
    for value, thousands, _unit in _FPS_RE.findall(description):  # "fps" comes before "tbr"
        fps = float(value) * (1000 if thousands else 1)
        break
    return VideoStream(codec=_codec(description), width=int(size.group(1)), height=int(size.group(2)), fps=fps)


def _audio_stream(description: str) -> AudioStream:
    rate = _RATE_RE.search(description)
    return AudioStream(
        codec=_codec(description),
        sample_rate=int(rate.group(1)) if rate else 0,
        channels=_channel_count(description),
    )


def _channel_count(description: str) -> int:
    fields = [field.strip() for field in description.split(",")]
    for field in fields:
        layout = field.split("(")[0].strip()
        if layout in _CHANNELS:
            return _CHANNELS[layout]
        counted = re.fullmatch(r"(\d+) channels", layout)
        if counted:
            return int(counted.group(1))
    return 0


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output from ffmpeg"


def wav_duration(path: Path) -> float:
    """Seconds of audio in a PCM WAV file, from its header."""
    try:
        with wave.open(str(path), "rb") as wav:
            return wav.getnframes() / wav.getframerate()
    except (wave.Error, EOFError, OSError) as exc:
        raise InvalidArtifact(f"{path.name} is not a readable WAV file: {exc}") from exc
