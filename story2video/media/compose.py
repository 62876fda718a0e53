"""Encode one shot's segment, then join the segments into the final MP4.

Segments: one FFmpeg run per shot with one filter graph (the picture, burned-in ASS subtitles,
narration delayed by the lead-in and padded to the segment length). The picture is a fitted clip, a
still, or a still under a pan/zoom: the moving frames are resized here (``stillframes``) and piped
into that FFmpeg run as raw frames. Every segment is
H.264 High yuv420p at the profile's constant fps + AAC 48 kHz stereo in MP4, a whole number of
frames long, with exactly ``frames * rate / fps`` audio samples, so all segments share one set of
stream parameters and their video can be joined without re-encoding.

Joining: the concat demuxer copies the video packets bit for bit (with a crossfade, only the
dissolving frames are re-encoded first, see ``transitions``). The audio is copied too, from a
soundtrack encoded once straight from the narrations (``encode_soundtrack``): the narration timeline is
known as soon as the narrations are, so the render encodes it while the segments encode. Copying the
segments' own AAC instead would replay each segment's 1024-sample encoder priming and padded last
frame (we measured a drift of +21 ms per segment, +258 ms by the 8th). Without a soundtrack,
``join_segments`` decodes the segments' audio and re-encodes it: ``-copyts`` keeps the segments' own
timestamps and ``aresample=async`` pads or drops samples wherever they stray more than 10 ms from them.
"""

from __future__ import annotations

import wave
from collections.abc import Awaitable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import ffmpeg as ff
from ffmpeg.nodes import FilterableStream

from story2video.errors import InvalidArtifact, InvalidRequest, MediaError
from story2video.media.dissolves import Edges, edge_outputs
from story2video.media.encoding import DURATION_TOLERANCE_S, RenderProfile, as_encoded, audio_args, confirmed_duration, render, video_args
from story2video.media.probe import aprobe
from story2video.media.fonts import FontInfo
from story2video.media.motion import cover_fit
from story2video.media.music import duck_under, music_bed
from story2video.media.stillframes import fitted_still, moving_frames, raw_frames_input
from story2video.media.subtitles import Cue, write_ass
from story2video.media.transitions import crossfade_keyframes, crossfaded_audio, crossfaded_video, cut_for_crossfade
from story2video.media.cliptypes import ClipFile, StillMotion
from story2video.stagecontext import StageContext
from story2video.util.workdirs import work_folder

AAC_FRAME_SAMPLES = 1024
COPIED_VIDEO: dict[str, object] = {"c:v": "copy"}
MAX_SLOWDOWN = 3.0  # a "slow" clip plays at most this many times slower; beyond, its last frame is held


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
    crossfade: float = 0.0  # the join's: IDRs where its transitions start and end let the join copy the rest

    @property
    def duration(self) -> float:
        return self.lead_in + self.narration_duration + self.tail


# ------------------------------------------------------------------ segments


async def encode_segment(
    ffmpeg: Path,
    spec: SegmentSpec,
    profile: RenderProfile,
    dest: Path,
    ctx: StageContext,
    *,
    threads: int = 0,
    slot: AbstractAsyncContextManager[object] | None = None,
    edges: Edges | None = None,
) -> float:
    """Render one shot's segment to ``dest`` (MP4) in one FFmpeg run; return its duration.
    ``threads``: the encoder's (``encoding.encoder_threads``; 0: its own choice). ``slot``: held while
    the picture is prepared and encoded (a compose slot), not while the result is probed, so the next
    segment can start meanwhile. ``edges``: where the same run also writes the frames of its
    crossfades, raw, for the transitions (``dissolves``).

    The duration is ``lead_in + narration_duration + tail`` rounded to whole frames, confirmed by
    probing the file (see ``confirmed_duration``).
    """
    frames = profile.frames(spec.duration)
    seconds = frames / profile.fps
    fade = profile.fade_frames(spec.crossfade)
    keyframes = crossfade_keyframes(frames, fade)
    with work_folder("segment-") as tmp:
        async with slot or nullcontext():
            picture, stdin = await _segment_picture(ffmpeg, spec, profile, frames, Path(tmp), ctx)
            video, edge_writes = edge_outputs(_with_subtitles(picture, spec, profile, Path(tmp)), frames, fade, edges or Edges())
            audio = _segment_audio(spec, profile, frames)
            output = ff.output(video, audio, str(dest), **video_args(profile, keyframes, threads), **audio_args(profile), f="mp4")
            written = [dest, *(edges.paths() if edge_writes and edges else [])]
            await render(ffmpeg, ff.merge_outputs(output, *edge_writes).get_args(), written, ctx, seconds, stdin=stdin)
    return await confirmed_duration(ffmpeg, dest, seconds)


async def _segment_picture(
    ffmpeg: Path, spec: SegmentSpec, profile: RenderProfile, frames: int, tmp: Path, ctx: StageContext
) -> tuple[FilterableStream, Iterator[memoryview] | None]:
    """The picture's stream in the segment graph, and the raw frames to feed it (a moving still) or None."""
    if isinstance(spec.clip, ClipFile):
        return _fitted_clip(spec.clip, profile, frames), None
    return await _still_picture(ffmpeg, spec.keyframe, spec.clip, profile, frames, tmp, ctx)


def _with_subtitles(video: FilterableStream, spec: SegmentSpec, profile: RenderProfile, tmp: Path) -> FilterableStream:
    if spec.cues:
        subtitles = tmp / "subtitles.ass"
        write_ass(spec.cues, subtitles, font=spec.font, width=profile.width, height=profile.height)
        fonts = _font_folder(spec.font, tmp / "fonts")
        video = video.filter("ass", filename=str(subtitles), fontsdir=str(fonts))
    return as_encoded(video.filter("format", "yuv420p"))


def _font_folder(font: FontInfo, folder: Path) -> Path:
    """A folder holding only the subtitle font: libass loads every file in ``fontsdir``, and the
    font's own folder may hold many large fonts (or, for the packaged font, Python files)."""
    folder.mkdir()
    try:
        (folder / font.path.name).symlink_to(font.path.resolve())
    except OSError:
        return font.directory
    return folder


async def encode_still_clip(
    ffmpeg: Path, keyframe: Path, motion: StillMotion, profile: RenderProfile, duration: float, dest: Path, ctx: StageContext
) -> float:
    """A silent MP4 of the keyframe moved as ``motion`` says, ``duration`` seconds (whole frames): a clip
    made on its own (the stage endpoint for clips), as a segment would show it. Returns its duration."""
    frames = profile.frames(duration)
    seconds = frames / profile.fps
    with work_folder("still-clip-") as tmp:
        picture, stdin = await _still_picture(ffmpeg, keyframe, motion, profile, frames, Path(tmp), ctx)
        output = ff.output(picture.filter("format", "yuv420p"), str(dest), **video_args(profile), f="mp4")
        await render(ffmpeg, output.get_args(), [dest], ctx, seconds, stdin=stdin)
    info = await aprobe(ffmpeg, dest)
    if info.video is None or abs(info.duration - seconds) > DURATION_TOLERANCE_S:
        raise MediaError(f"FFmpeg wrote {dest.name} without video or {info.duration:.2f} s long instead of {seconds:.3f} s")
    return seconds


async def _still_picture(
    ffmpeg: Path, keyframe: Path, motion: StillMotion, profile: RenderProfile, frames: int, tmp: Path, ctx: StageContext
) -> tuple[FilterableStream, Iterator[memoryview] | None]:
    """A still's stream: held as it is, or moved in this process and fed as raw frames (returned too)."""
    if motion.move == "static" or frames < 2 or motion.zoom <= 1.0:
        return _held_still(keyframe, profile, frames), None
    still = await fitted_still(ffmpeg, keyframe, profile.width, profile.height, tmp / "still.yuv", ctx)
    return raw_frames_input(profile.width, profile.height, profile.fps), moving_frames(still, motion, frames)


def _held_still(keyframe: Path, profile: RenderProfile, frames: int) -> FilterableStream:
    """The keyframe decoded and scaled once, repeated ``frames`` times."""
    still = cover_fit(ff.input(str(keyframe)).video, profile.width, profile.height, flags="lanczos")
    return (
        still.filter("loop", loop=frames - 1, size=1, start=0)
        .filter("settb", f"1/{profile.fps}")
        .filter("setpts", "N")
    )


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
    return _narration_audio(spec.narration, spec.lead_in, profile, frames)


def _narration_audio(wav: Path, lead_in: float, profile: RenderProfile, frames: int) -> FilterableStream:
    """Narration as 48 kHz stereo, after ``lead_in`` of silence, padded/cut to ``frames`` video frames."""
    samples = profile.samples(frames)
    delay = round(lead_in * profile.audio_rate)
    narration = _as_stereo(ff.input(str(wav)).audio, _wav_channels(wav))
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


# ------------------------------------------------------------------ the soundtrack


@dataclass(frozen=True)
class SoundPart:
    """One segment's share of the soundtrack: its narration and where it sits in the segment."""

    narration: Path  # WAV
    lead_in: float
    duration: float  # the segment's (lead-in + narration + tail), rounded to whole frames as the segment is


async def encode_soundtrack(
    ffmpeg: Path,
    parts: list[SoundPart],
    dest: Path,
    *,
    crossfade: float = 0.0,
    music: Path | None = None,
    generated_music: bool = False,
    profile: RenderProfile,
    ctx: StageContext,
) -> float:
    """The joined video's whole audio track (AAC in MP4) in one FFmpeg run, straight from the
    narrations: each part laid out as its segment's audio is, the parts concatenated (or crossfaded
    by ``crossfade`` seconds, as ``join_segments`` dissolves the pictures), the music bed ducked under.
    Returns its duration: exactly the joined video's."""
    if not parts:
        raise ValueError("a soundtrack needs at least one part")
    frames = [profile.frames(part.duration) for part in parts]
    fade = _fade_frames(crossfade, frames, profile) if len(parts) > 1 else 0
    seconds = (sum(frames) - fade * (len(frames) - 1)) / profile.fps
    pieces = [_narration_audio(part.narration, part.lead_in, profile, count) for part, count in zip(parts, frames)]
    if len(pieces) == 1:
        audio = pieces[0]
    elif fade:
        audio = pieces[0]
        for piece in pieces[1:]:
            audio = ff.filter([audio, piece], "acrossfade", duration=f"{fade / profile.fps:.6f}")
    else:
        audio = ff.concat(*pieces, v=0, a=1)
    if music is not None or generated_music:
        audio = duck_under(audio, music_bed(music, seconds, profile.audio_rate))
    output = ff.output(audio.filter("atrim", end_sample=_whole_aac_frames(seconds, profile)), str(dest),
                       **audio_args(profile), vn=None, f="mp4")
    await render(ffmpeg, output.get_args(), [dest], ctx, seconds, progress=False)
    return seconds


def _whole_aac_frames(seconds: float, profile: RenderProfile) -> int:
    """The samples of ``seconds`` cut down to whole AAC frames: a stream-copied AAC track keeps its
    last frame whole (its padding is not trimmed as it is in the file the encoder wrote), so a track
    of whole frames ends within 21 ms before the video instead of up to 21 ms after it."""
    samples = round(seconds * profile.audio_rate)
    return samples - samples % AAC_FRAME_SAMPLES if samples >= AAC_FRAME_SAMPLES else samples


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
    soundtrack: Path | None = None,
    transitions: Mapping[int, Path] | Awaitable[Mapping[int, Path]] | None = None,
    profile: RenderProfile,
    ctx: StageContext,
    slot: AbstractAsyncContextManager[object] | None = None,
) -> float:
    """Join segments in order into ``dest`` (MP4); return its duration, confirmed by probing.

    Without crossfade the video is copied; with ``crossfade`` seconds (> 0) neighbouring segments
    dissolve into each other (total = sum - (n-1) * crossfade): segments encoded with the same
    ``crossfade`` have only their transitions re-encoded, others are re-encoded whole.
    ``soundtrack`` (from ``encode_soundtrack`` for the same segments, crossfade and music) is copied
    as the audio; without it the segments' audio is re-encoded, with a ducked music bed from ``music``
    (a file) or ``generated_music``. ``transitions``: crossfades already encoded by ``encode_transition``
    (by the index of the segment they leave), used when the segments can be cut; the others are
    encoded here. It may be an awaitable of them, still being encoded: the segments are cut meanwhile.
    ``slot``: held while anything is encoded here (a compose slot); copying needs none.
    """
    if not segments or len(segments) != len(durations):
        raise ValueError("join_segments needs one duration per segment, and at least one segment")
    if soundtrack is not None and (music is not None or generated_music):
        raise ValueError("the music of a joined video with a soundtrack is in its soundtrack")
    frames = [profile.frames(duration) for duration in durations]
    fade = _fade_frames(crossfade, frames, profile) if len(segments) > 1 else 0
    seconds = (sum(frames) - fade * (len(frames) - 1)) / profile.fps
    with work_folder("join-") as tmp:
        video, narration, video_options = await _joined_streams(
            ffmpeg, segments, frames, fade, profile, Path(tmp), ctx, transitions, slot
        )
        if soundtrack is not None:
            # -copyts: the soundtrack starts at -1024 samples (the encoder's priming, skipped by its edit
            # list); without it FFmpeg moves that start to 0 and every stream 21 ms later.
            output = ff.output(video, ff.input(str(soundtrack)).audio, str(dest), **video_options,
                               **{"c:a": "copy"}, movflags="+faststart", f="mp4")
        else:
            audio = narration.filter("aresample", **{"async": 1, "min_hard_comp": 0.01, "first_pts": 0})
            if music is not None or generated_music:
                audio = duck_under(audio, music_bed(music, seconds, profile.audio_rate))
            output = ff.output(
                video, audio, str(dest), **video_options, **audio_args(profile), movflags="+faststart", f="mp4"
            )
        copied = soundtrack is not None and video_options == COPIED_VIDEO
        async with nullcontext() if copied or slot is None else slot:
            await render(ffmpeg, ["-copyts", *output.get_args()], [dest], ctx, seconds)
    return await confirmed_duration(ffmpeg, dest, seconds)


async def _joined_streams(
    ffmpeg: Path,
    segments: list[Path],
    frames: list[int],
    fade: int,
    profile: RenderProfile,
    tmp: Path,
    ctx: StageContext,
    transitions: Mapping[int, Path] | Awaitable[Mapping[int, Path]] | None,
    slot: AbstractAsyncContextManager[object] | None,
) -> tuple[FilterableStream, FilterableStream, dict[str, object]]:
    """(video, narration, video output options) of the joined segments."""
    if not fade:
        video, audio = _concatenated(segments, tmp / "segments.txt")
        return video, audio, COPIED_VIDEO
    inputs = [ff.input(str(path)) for path in segments]
    audio = crossfaded_audio(inputs, fade, profile)
    pieces = await cut_for_crossfade(ffmpeg, segments, frames, fade, profile, tmp, ctx, transitions, slot)
    if pieces is None:
        return crossfaded_video(inputs, frames, fade, profile), audio, video_args(profile)
    video, _ = _concatenated(pieces, tmp / "pieces.txt")
    return video, audio, COPIED_VIDEO


def _fade_frames(crossfade: float, frames: list[int], profile: RenderProfile) -> int:
    """The crossfade in whole frames; it must be shorter than every segment."""
    fade = profile.fade_frames(crossfade)
    if fade and fade >= min(frames):
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
