"""Encode one shot's segment, then join the segments into the final MP4.

Segments: one FFmpeg run per shot with one filter graph (still + pan/zoom or fitted clip, burned-in
ASS subtitles, narration delayed by the lead-in and padded to the segment length). Every segment is
H.264 High yuv420p at the profile's constant fps + AAC 48 kHz stereo in MP4, a whole number of
frames long, with exactly ``frames * rate / fps`` audio samples, so all segments share one set of
stream parameters and their video can be joined without re-encoding.

Joining: the concat demuxer copies the video packets bit for bit. The audio is decoded and re-encoded
(about 1 s per minute of video on 2 cores, against ~20 s per minute to encode 720p segments):
copying AAC across MP4 segments replays each segment's 1024-sample encoder priming and its padded
last frame, which we measured as a drift of +21 ms per segment (+258 ms by the 8th segment).
Decoding honours each segment's edit list, ``-copyts`` keeps the segments' own timestamps, and
``aresample=async`` pads or drops samples wherever they stray more than 10 ms from those timestamps,
so the audio stays on the video's timeline.
"""

from __future__ import annotations

import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import ffmpeg as ff
from ffmpeg.nodes import FilterableStream

from story2video.errors import InvalidArtifact, InvalidRequest, MediaError
from story2video.media.ffmpeg import run_ffmpeg
from story2video.media.fonts import FontInfo
from story2video.media.motion import camera_move, cover_fit
from story2video.media.music import duck_under, music_bed
from story2video.media.probe import aprobe
from story2video.media.subtitles import Cue, write_ass
from story2video.providers.base import ClipFile, StageContext, StillMotion

AspectRatio = Literal["16:9", "9:16", "1:1"]
_ASPECTS: dict[str, tuple[int, int]] = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1)}
_NVENC_PRESETS = {"ultrafast": "p1", "superfast": "p2", "veryfast": "p3", "faster": "p3", "fast": "p4",
                  "medium": "p5", "slow": "p6", "slower": "p7", "veryslow": "p7"}
KEYFRAME_INTERVAL_S = 2
# Generous wall-clock limits: a fixed allowance plus seconds of work per second of output.
TIMEOUT_BASE_S = 120.0
TIMEOUT_PER_OUTPUT_S = 20.0
DURATION_TOLERANCE_S = 0.02  # the 10 ms resolution of ``ffmpeg -i`` plus rounding
MAX_SLOWDOWN = 3.0  # a "slow" clip plays at most this many times slower; beyond, its last frame is held


def output_size(aspect: AspectRatio, short_side: int) -> tuple[int, int]:
    """(width, height), both even; the short side is ``short_side`` (an odd one is lowered by 1)."""
    if aspect not in _ASPECTS:
        raise ValueError(f"unknown aspect ratio {aspect!r}")
    wide, tall = _ASPECTS[aspect]
    short = max(2, short_side - short_side % 2)
    long = 2 * round(short * max(wide, tall) / min(wide, tall) / 2)
    return (long, short) if wide >= tall else (short, long)


@dataclass(frozen=True)
class RenderProfile:
    width: int
    height: int
    fps: int
    encoder: str = "libx264"
    preset: str = "veryfast"
    crf: int = 20
    audio_bitrate: str = "128k"
    audio_rate: int = 48000

    def frames(self, seconds: float) -> int:
        """Whole frames closest to ``seconds`` (at least one)."""
        return max(1, round(seconds * self.fps))

    def samples(self, frames: int) -> int:
        """Audio samples lasting exactly as long as ``frames`` video frames."""
        return round(frames * self.audio_rate / self.fps)


@dataclass(frozen=True)
class SegmentSpec:
    keyframe: Path
    clip: StillMotion | ClipFile
    narration: Path  # WAV
    narration_duration: float
    lead_in: float
    tail: float
    cues: list[Cue] | None  # timed relative to the segment start; None = no subtitles
    font: FontInfo

    @property
    def duration(self) -> float:
        return self.lead_in + self.narration_duration + self.tail


# ------------------------------------------------------------------ segments


async def encode_segment(
    ffmpeg: Path, spec: SegmentSpec, profile: RenderProfile, dest: Path, ctx: StageContext
) -> float:
    """Render one shot's segment to ``dest`` (MP4) in one FFmpeg run; return its duration.

    The duration is ``lead_in + narration_duration + tail`` rounded to whole frames, confirmed by
    probing the file (see ``_confirmed_duration``).
    """
    frames = profile.frames(spec.duration)
    seconds = frames / profile.fps
    with tempfile.TemporaryDirectory(prefix="s2v-segment-") as tmp:
        video = _segment_video(spec, profile, frames, Path(tmp))
        audio = _segment_audio(spec, profile, frames)
        output = ff.output(video, audio, str(dest), **_video_args(profile), **_audio_args(profile), f="mp4")
        await _render(ffmpeg, output.get_args(), dest, ctx, seconds)
    return await _confirmed_duration(ffmpeg, dest, seconds)


def _segment_video(spec: SegmentSpec, profile: RenderProfile, frames: int, tmp: Path) -> FilterableStream:
    if isinstance(spec.clip, ClipFile):
        video = _fitted_clip(spec.clip, profile, frames)
    else:
        video = _moving_still(spec.keyframe, spec.clip, profile, frames)
    if spec.cues:
        subtitles = tmp / "subtitles.ass"
        write_ass(spec.cues, subtitles, font=spec.font, width=profile.width, height=profile.height)
        fonts = _font_folder(spec.font, tmp / "fonts")
        video = video.filter("ass", filename=str(subtitles), fontsdir=str(fonts))
    return video.filter("format", "yuv420p")


def _font_folder(font: FontInfo, folder: Path) -> Path:
    """A folder holding only the subtitle font: libass loads every file in ``fontsdir``, and the
    font's own folder may hold many large fonts (or, for the packaged font, Python files)."""
    folder.mkdir()
    try:
        (folder / font.path.name).symlink_to(font.path.resolve())
    except OSError:
        return font.directory
    return folder


def _moving_still(keyframe: Path, motion: StillMotion, profile: RenderProfile, frames: int) -> FilterableStream:
    """The keyframe decoded and scaled once, repeated ``frames`` times, then moved per frame."""
    still = cover_fit(ff.input(str(keyframe)).video, profile.width, profile.height, flags="lanczos")
    repeated = (
        still.filter("loop", loop=frames - 1, size=1, start=0)
        .filter("settb", f"1/{profile.fps}")
        .filter("setpts", "N")
    )
    return camera_move(repeated, motion, frames)


def _fitted_clip(clip: ClipFile, profile: RenderProfile, frames: int) -> FilterableStream:
    """The clip at the profile's fps, trimmed to ``frames``; a shorter one is first slowed down
    (``fit="slow"``, at most ``MAX_SLOWDOWN`` times), then its last frame is held until the end."""
    seconds = frames / profile.fps
    source = ff.input(str(clip.path), t=f"{seconds + 1:.3f}").video
    stretch = _slowdown(clip, seconds)
    if stretch > 1.0:
        source = source.filter("setpts", f"{stretch:.6f}*(PTS-STARTPTS)")
    fitted = (
        source.filter("fps", profile.fps)
        .filter("tpad", stop_mode="clone", stop_duration=f"{seconds:.6f}")
        .filter("trim", end_frame=frames)
        .filter("setpts", "PTS-STARTPTS")
    )
    return cover_fit(fitted, profile.width, profile.height)


def _slowdown(clip: ClipFile, seconds: float) -> float:
    """How many times slower a ``fit="slow"`` clip plays so that it lasts ``seconds`` (1.0 = as is)."""
    if clip.fit != "slow" or clip.duration <= 0 or clip.duration >= seconds:
        return 1.0
    return min(seconds / clip.duration, MAX_SLOWDOWN)


def _segment_audio(spec: SegmentSpec, profile: RenderProfile, frames: int) -> FilterableStream:
    """Narration as 48 kHz stereo, after ``lead_in`` of silence, padded/cut to the segment."""
    samples = profile.samples(frames)
    delay = round(spec.lead_in * profile.audio_rate)
    narration = _as_stereo(ff.input(str(spec.narration)).audio, _wav_channels(spec.narration))
    return (
        narration.filter("aresample", profile.audio_rate)
        .filter("adelay", delays=f"{delay}S", all=1)
        .filter("apad", whole_len=samples)
        .filter("atrim", end_sample=samples)
    )


def _wav_channels(path: Path) -> int:
    try:
        with wave.open(str(path), "rb") as wav:
            return wav.getnchannels()
    except (wave.Error, EOFError, OSError) as exc:
        raise InvalidArtifact(f"narration {path.name} is not a readable WAV file: {exc}") from exc


def _as_stereo(audio: FilterableStream, channels: int) -> FilterableStream:
    if channels == 1:  # both sides at full level (the default upmix lowers mono by 3 dB)
        return audio.filter("channelmap", map="0-0|0-1", channel_layout="stereo")
    return audio.filter("aformat", channel_layouts="stereo")


# ------------------------------------------------------------------ joining


async def join_segments(
    ffmpeg: Path,
    segments: list[Path],
    durations: list[float],
    dest: Path,
    *,
    crossfade: float = 0.0,
    music: Path | None = None,
    generated_music: bool = False,
    profile: RenderProfile,
    ctx: StageContext,
) -> float:
    """Join segments in order into ``dest`` (MP4); return its duration, confirmed by probing.

    Without crossfade the video is copied; with ``crossfade`` seconds (> 0) neighbouring segments
    dissolve into each other (video and audio re-encoded, total = sum - (n-1) * crossfade).
    ``music`` (a file) or ``generated_music`` adds a ducked music bed under the narration.
    """
    if not segments or len(segments) != len(durations):
        raise ValueError("join_segments needs one duration per segment, and at least one segment")
    frames = [profile.frames(duration) for duration in durations]
    fade = _fade_frames(crossfade, frames, profile) if len(segments) > 1 else 0
    seconds = (sum(frames) - fade * (len(frames) - 1)) / profile.fps
    with tempfile.TemporaryDirectory(prefix="s2v-join-") as tmp:
        if fade:
            video, narration = _crossfaded(segments, frames, fade, profile)
            video_args = _video_args(profile)
        else:
            video, narration = _concatenated(segments, Path(tmp) / "segments.txt")
            video_args = {"c:v": "copy"}
        audio = narration.filter("aresample", **{"async": 1, "min_hard_comp": 0.01, "first_pts": 0})
        if music is not None or generated_music:
            audio = duck_under(audio, music_bed(music, seconds, profile.audio_rate))
        output = ff.output(
            video, audio, str(dest), **video_args, **_audio_args(profile), movflags="+faststart", f="mp4"
        )
        await _render(ffmpeg, ["-copyts", *output.get_args()], dest, ctx, seconds)
    return await _confirmed_duration(ffmpeg, dest, seconds)


def _fade_frames(crossfade: float, frames: list[int], profile: RenderProfile) -> int:
    """The crossfade in whole frames; it must be shorter than every segment."""
    if crossfade <= 0:
        return 0
    fade = profile.frames(crossfade)
    if fade >= min(frames):
        shortest = min(frames) / profile.fps
        raise InvalidRequest(
            f"a {crossfade:g} s crossfade does not fit segments as short as {shortest:g} s", param="crossfade"
        )
    return fade


def _concatenated(segments: list[Path], listing: Path) -> tuple[FilterableStream, FilterableStream]:
    lines = [f"file '{_concat_quote(path)}'" for path in segments]
    listing.write_text("ffconcat version 1.0\n" + "\n".join(lines) + "\n", encoding="utf-8")
    # Segments share one encoder configuration, so their parameter sets are identical: with
    # auto_convert off the demuxer does not repeat them in-band, and packets are copied bit for bit.
    joined = ff.input(str(listing), f="concat", safe=0, auto_convert=0)
    return joined.video, joined.audio


def _concat_quote(path: Path) -> str:
    """A path inside single quotes of a concat list (a quote is written as '\\'')."""
    return str(path.resolve()).replace("'", "'\\''")


def _crossfaded(
    segments: list[Path], frames: list[int], fade: int, profile: RenderProfile
) -> tuple[FilterableStream, FilterableStream]:
    """An xfade/acrossfade chain; transition k starts where the segments so far, overlapped, end."""
    inputs = [ff.input(str(path)) for path in segments]
    video, audio = inputs[0].video, inputs[0].audio
    fade_s = fade / profile.fps
    elapsed = frames[0]
    for source, length in zip(inputs[1:], frames[1:]):
        offset = (elapsed - fade) / profile.fps
        video = ff.filter(
            [video, source.video], "xfade", transition="fade", duration=f"{fade_s:.6f}", offset=f"{offset:.6f}"
        )
        audio = ff.filter([audio, source.audio], "acrossfade", duration=f"{fade_s:.6f}")
        elapsed += length - fade
    return video, audio


# ------------------------------------------------------------------ shared


def _video_args(profile: RenderProfile) -> dict[str, object]:
    """H.264 High yuv420p, constant fps, a keyframe every ~2 s, BT.709 tags."""
    common: dict[str, object] = {
        "c:v": profile.encoder,
        "pix_fmt": "yuv420p",
        "profile:v": "high",
        "r": profile.fps,
        "fps_mode": "cfr",
        "g": profile.fps * KEYFRAME_INTERVAL_S,
        "colorspace": "bt709",
        "color_primaries": "bt709",
        "color_trc": "bt709",
        "color_range": "tv",
    }
    if profile.encoder == "h264_nvenc":
        return common | {"preset": _NVENC_PRESETS.get(profile.preset, "p4"), "rc": "vbr", "cq": profile.crf, "b:v": 0}
    return common | {"preset": profile.preset, "crf": profile.crf}


def _audio_args(profile: RenderProfile) -> dict[str, object]:
    return {"c:a": "aac", "b:a": profile.audio_bitrate, "ar": profile.audio_rate, "ac": 2}


async def _render(ffmpeg: Path, args: list[str], dest: Path, ctx: StageContext, seconds: float) -> None:
    """Run FFmpeg for ``seconds`` of output; a failed or cancelled run leaves no file at ``dest``."""
    timeout = TIMEOUT_BASE_S + TIMEOUT_PER_OUTPUT_S * seconds
    try:
        await run_ffmpeg(ffmpeg, args, ctx=ctx, timeout=timeout, expected_duration=seconds)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


async def _confirmed_duration(ffmpeg: Path, dest: Path, expected: float) -> float:
    """Probe what FFmpeg wrote and return its duration.

    ``ffmpeg -i`` reports durations in 10 ms steps; when the measurement agrees with the exact
    length we asked for (a whole number of frames), that exact length is returned, so sums over
    many segments do not pick up rounding. A file of another length is an error.
    """
    try:
        info = await aprobe(ffmpeg, dest)
    except InvalidArtifact as exc:
        raise MediaError(f"FFmpeg wrote an unreadable {dest.name}: {exc.message}") from exc
    if info.video is None or info.audio is None:
        raise MediaError(f"{dest.name} lacks a video or an audio stream")
    if abs(info.duration - expected) > DURATION_TOLERANCE_S:
        raise MediaError(f"{dest.name} lasts {info.duration:.2f} s instead of {expected:.3f} s")
    return expected
