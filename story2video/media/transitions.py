"""Crossfades between segments, re-encoding only the frames that dissolve.

A crossfade of ``f`` frames between segments A and B needs new pictures for those ``f`` frames only.
Segments encoded for a crossfade carry IDR frames at ``f`` and ``len - f`` (``SegmentSpec.crossfade``),
so the join is

    A[0, La-f) | dissolve(A[La-f, La), B[0, f)) | B[f, Lb-f) | dissolve(B[Lb-f, Lb), C[0, f)) | ... | Z[f, Lz)

where the middles are copied bit for bit and only the transitions are encoded (their pictures mixed
from the segments' edge frames, ``dissolves``), with the segments' own encoder settings so that every
piece has the same parameter sets. A middle runs from one IDR to the
next, and x264 GOPs are closed, so its packets in decode order are exactly its frames: copying a
known number of packets from the first IDR cuts it exactly. Each copied middle is checked packet by
packet against its segment before it is used.

When segments lack those keyframes (encoded for another crossfade), differ in parameter sets, come
from another encoder, or are too short to have a middle, the whole video is decoded, dissolved and
re-encoded instead (``crossfaded_video``).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import re
from collections.abc import Awaitable, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import ffmpeg as ff
from ffmpeg.nodes import FilterableStream, InputNode, OutputStream
from loguru import logger

from story2video.errors import MediaError
from story2video.media.dissolves import EdgeSource, decode_edges, dissolved_frames
from story2video.media.encoding import RenderProfile, encoder_threads, render, render_timeout, seek_time, video_args
from story2video.media.ffmpeg import run_ffmpeg
from story2video.media.stillframes import raw_frames_input
from story2video.stagecontext import StageContext
from story2video.util.workdirs import work_folder

CUTTABLE_ENCODERS = ("libx264",)  # encoders whose forced keyframes are IDRs closing their GOP
# Faster x264 analysis for the dissolves of a render at a given x264 preset, writing the same parameter
# sets (checked by the tests, since the pieces are joined by copying). At veryfast, a dissolve costs
# x264 ~40 % less CPU at superfast's analysis; keeping veryfast's macroblock tree and lookahead keeps
# its size within ~3 % (superfast as it is writes ~35 % more bytes).
FASTER_DISSOLVES: dict[str, dict[str, str]] = {"veryfast": {"preset": "superfast", "x264-params": "mbtree=1:rc-lookahead=10"}}
_TIMEBASE_RE = re.compile(r"^#tb 0: (\d+)/(\d+)$", re.MULTILINE)
_EXTRADATA_RE = re.compile(r"^#extradata 0:\s*(.+)$", re.MULTILINE)


def crossfade_keyframes(frames: int, fade: int) -> tuple[int, ...]:
    """Frame numbers at which a segment of ``frames`` frames needs IDRs for a ``fade``-frame crossfade."""
    if fade <= 0:
        return ()
    return tuple(sorted({frame for frame in (fade, frames - fade) if 0 < frame < frames}))


# ------------------------------------------------------------------ full re-encode


def crossfaded_video(inputs: list[InputNode], frames: list[int], fade: int, profile: RenderProfile) -> FilterableStream:
    """An xfade chain; transition k starts where the segments so far, overlapped, end."""
    video = inputs[0].video
    elapsed = frames[0]
    for source, length in zip(inputs[1:], frames[1:]):
        video = ff.filter(
            [video, source.video], "xfade", transition="fade",
            duration=_seconds(fade, profile), offset=_seconds(elapsed - fade, profile),
        )
        elapsed += length - fade
    return video


def crossfaded_audio(inputs: list[InputNode], fade: int, profile: RenderProfile) -> FilterableStream:
    audio = inputs[0].audio
    for source in inputs[1:]:
        audio = ff.filter([audio, source.audio], "acrossfade", duration=_seconds(fade, profile))
    return audio


# ------------------------------------------------------------------ cutting


@dataclass(frozen=True)
class Packet:
    frame: int  # display position
    key: bool
    digest: str


@dataclass(frozen=True)
class VideoPackets:
    """A file's video packets in decode order, as FFmpeg's framecrc muxer lists them."""

    extradata: str  # size and checksum of the parameter sets
    packets: tuple[Packet, ...]

    def keyframes(self) -> set[int]:
        return {packet.frame for packet in self.packets if packet.key}

    def run_from(self, frame: int, count: int) -> tuple[str, ...]:
        """Digests of ``count`` packets in decode order, starting at the one showing ``frame``."""
        start = next(index for index, packet in enumerate(self.packets) if packet.frame == frame)
        return tuple(packet.digest for packet in self.packets[start : start + count])


@dataclass(frozen=True)
class Middle:
    segment: int
    start: int  # first frame, an IDR
    count: int


async def encode_transition(
    ffmpeg: Path, left: Path, right: Path, left_frames: int, fade: int, profile: RenderProfile, dest: Path, ctx: StageContext,
    *, threads: int = 0, edges: tuple[Path | None, Path | None] = (None, None),
) -> Path:
    """The ``fade`` frames dissolving segment ``left`` (``left_frames`` long) into ``right``, encoded
    as the join's piece between them; it can be made as soon as both segments exist. ``edges``: the
    raw tail of ``left`` and head of ``right`` (``dissolves.Edges``) where their runs wrote them;
    the others are decoded from the segments."""
    tail, head = edges
    with work_folder("transition-") as tmp:
        sources = []
        if tail is None:
            tail = Path(tmp) / "tail.yuv"
            sources.append(EdgeSource(left, left_frames - fade, fade, tail))
        if head is None:
            head = Path(tmp) / "head.yuv"
            sources.append(EdgeSource(right, 0, fade, head))
        await decode_edges(ffmpeg, sources, profile, ctx)
        picture = raw_frames_input(profile.width, profile.height, profile.fps)
        options = video_args(profile, threads=threads) | faster_dissolves(profile)
        output = ff.output(picture, str(dest), **options, **{"frames:v": fade}, an=None, f="mp4")
        frames = dissolved_frames(tail, head, fade, profile.width, profile.height)
        await render(ffmpeg, output.get_args(), [dest], ctx, fade / profile.fps, progress=False, stdin=frames)
    return dest


async def cut_for_crossfade(
    ffmpeg: Path,
    segments: list[Path],
    frames: list[int],
    fade: int,
    profile: RenderProfile,
    folder: Path,
    ctx: StageContext,
    made: Mapping[int, Path] | Awaitable[Mapping[int, Path]] | None = None,
    slot: AbstractAsyncContextManager[object] | None = None,
) -> list[Path] | None:
    """The pieces that, concatenated, are the crossfaded video; None when the segments cannot be cut
    (the reason is logged) and the whole video must be re-encoded. ``made``: transitions already
    encoded (``encode_transition``), by the index of the segment they leave, or still being encoded:
    the middles are copied meanwhile. ``slot``: held while transitions are encoded here."""
    settled = asyncio.ensure_future(_settled(made))
    try:
        listings, reason = await _cuttable(ffmpeg, segments, frames, fade, profile, folder, ctx)
        if reason:
            logger.info("crossfade re-encodes the whole video: {}", reason)
        else:
            middles = _middles(frames, fade)
            middle_paths = {middle.segment: folder / f"middle{middle.segment}.mp4" for middle in middles}
            reason = await _copied_middles(ffmpeg, segments, listings, middles, middle_paths, profile, folder, ctx)
            if reason:
                logger.warning("crossfade re-encodes the whole video: {}", reason)
        made_before = await settled
    except BaseException:
        settled.cancel()
        await asyncio.gather(settled, return_exceptions=True)
        raise
    if reason:
        return None
    made_before = await _fitting(ffmpeg, made_before, listings[0], fade, profile.fps, folder / "transition-packets", ctx)
    transition_paths = [made_before.get(index, folder / f"transition{index}.mp4") for index in range(len(segments) - 1)]
    missing = [index for index in range(len(transition_paths)) if index not in made_before]
    if missing:
        async with slot or nullcontext():
            await _encoded_in_parallel(ffmpeg, segments, frames, fade, profile, transition_paths, missing, ctx)
    return _in_playing_order(middle_paths, transition_paths)


async def _cuttable(
    ffmpeg: Path, segments: list[Path], frames: list[int], fade: int, profile: RenderProfile, folder: Path, ctx: StageContext
) -> tuple[list[VideoPackets], str]:
    """The segments' packet listings, and '' when they can be cut, else why not."""
    if profile.encoder not in CUTTABLE_ENCODERS:
        return [], f"cut points are only verified for {', '.join(CUTTABLE_ENCODERS)}"
    listings = await list_packets(ffmpeg, segments, profile.fps, folder / "segment-packets", ctx)
    return listings, _uncuttable_reason(listings, frames, fade)


async def _settled(made: Mapping[int, Path] | Awaitable[Mapping[int, Path]] | None) -> dict[int, Path]:
    """The transitions made beforehand, once all are (a failure to make one is raised here)."""
    if made is None:
        return {}
    if inspect.isawaitable(made):
        made = await made
    return dict(sorted(made.items()))


async def _copied_middles(
    ffmpeg: Path,
    segments: list[Path],
    listings: list[VideoPackets],
    middles: list[Middle],
    paths: dict[int, Path],
    profile: RenderProfile,
    folder: Path,
    ctx: StageContext,
) -> str:
    """Copy every middle out of its segment (one FFmpeg run); '' when each copy holds exactly its
    segment's packets, else what differs."""
    copies = [_copied_middle(segments[middle.segment], middle, profile, paths[middle.segment]) for middle in middles]
    if copies:
        await render(ffmpeg, ff.merge_outputs(*copies).get_args(), list(paths.values()), ctx, 0.0, progress=False)
    return await _copy_mismatch(ffmpeg, listings, middles, list(paths.values()), profile.fps, folder / "middle-packets", ctx)


async def _fitting(
    ffmpeg: Path, made: dict[int, Path], segment: VideoPackets, fade: int, fps: int, folder: Path, ctx: StageContext
) -> dict[int, Path]:
    """The transitions made beforehand that can be joined with these segments (the others are encoded again)."""
    if not made:
        return {}
    listings = await list_packets(ffmpeg, list(made.values()), fps, folder, ctx)
    return {index: path for (index, path), listing in zip(made.items(), listings) if _fits(listing, segment, fade, path)}


async def _encoded_in_parallel(
    ffmpeg: Path,
    segments: list[Path],
    frames: list[int],
    fade: int,
    profile: RenderProfile,
    paths: list[Path],
    indexes: list[int],
    ctx: StageContext,
) -> None:
    """Encode the transitions at ``indexes``, one per core at a time (one x264 per short transition
    keeps every core busy); the first failure stops the others."""
    cores = os.cpu_count() or 1
    slots = asyncio.Semaphore(cores)

    async def one(index: int) -> None:
        async with slots:
            await encode_transition(ffmpeg, segments[index], segments[index + 1], frames[index], fade, profile, paths[index], ctx,
                                    threads=encoder_threads(min(cores, len(indexes))))

    tasks = [asyncio.ensure_future(one(index)) for index in indexes]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _fits(transition: VideoPackets, segment: VideoPackets, fade: int, path: Path) -> bool:
    """Whether a transition encoded beforehand can be joined with these segments (else it is encoded again)."""
    if transition.extradata == segment.extradata and len(transition.packets) == fade:
        return True
    logger.warning("transition {} does not fit the segments (parameter sets or length differ): encoded again", path.name)
    return False


def _uncuttable_reason(listings: list[VideoPackets], frames: list[int], fade: int) -> str:
    if len({listing.extradata for listing in listings}) > 1:
        return "the segments' parameter sets differ"
    last = len(frames) - 1
    for index, (listing, length) in enumerate(zip(listings, frames)):
        if len(listing.packets) != length:
            return f"segment {index} has {len(listing.packets)} video packets, not {length}"
        if 0 < index < last and length < 2 * fade:
            return f"segment {index} is shorter than two crossfades"
        needed = {fade} if index > 0 else set()
        needed |= {length - fade} if index < last else set()
        missing = sorted(needed - listing.keyframes())
        if missing:
            return f"segment {index} has no keyframe at frame {missing[0]} (encoded for another crossfade?)"
    return ""


def _middles(frames: list[int], fade: int) -> list[Middle]:
    last = len(frames) - 1
    middles = []
    for index, length in enumerate(frames):
        start = fade if index > 0 else 0
        end = length - fade if index < last else length
        if end > start:
            middles.append(Middle(index, start, end - start))
    return middles


def _copied_middle(segment: Path, middle: Middle, profile: RenderProfile, dest: Path) -> OutputStream:
    source = ff.input(str(segment), ss=seek_time(middle.start, profile)).video
    return ff.output(source, str(dest), **{"c:v": "copy", "frames:v": middle.count}, an=None, f="mp4")


def faster_dissolves(profile: RenderProfile) -> dict[str, str]:
    """Encoder options that override ``video_args`` for the dissolving frames ({} when none are known)."""
    return FASTER_DISSOLVES.get(profile.preset, {}) if profile.encoder == "libx264" else {}


def _in_playing_order(middles: dict[int, Path], transitions: list[Path]) -> list[Path]:
    """Segment 0's middle, transition 0, segment 1's middle, ... (a segment of exactly two crossfades has no middle)."""
    pieces: list[Path] = []
    for index in range(len(transitions) + 1):
        if index in middles:
            pieces.append(middles[index])
        if index < len(transitions):
            pieces.append(transitions[index])
    return pieces


async def _copy_mismatch(
    ffmpeg: Path,
    listings: list[VideoPackets],
    middles: list[Middle],
    paths: list[Path],
    fps: int,
    folder: Path,
    ctx: StageContext,
) -> str:
    """'' when every copied middle holds exactly its segment's packets, else what differs."""
    copies = await list_packets(ffmpeg, paths, fps, folder, ctx)
    for middle, copy in zip(middles, copies):
        expected = listings[middle.segment].run_from(middle.start, middle.count)
        if tuple(packet.digest for packet in copy.packets) != expected:
            return f"the copy of segment {middle.segment} from frame {middle.start} is not the segment's packets"
    return ""


# ------------------------------------------------------------------ packet listings


async def list_packets(ffmpeg: Path, paths: list[Path], fps: int, folder: Path, ctx: StageContext) -> list[VideoPackets]:
    """Every file's video packets, listed by one FFmpeg run that copies them to framecrc listings."""
    folder.mkdir(parents=True, exist_ok=True)
    listings = [folder / f"{index}.crc" for index in range(len(paths))]
    outputs = [
        ff.output(ff.input(str(path)).video, str(listing), c="copy", f="framecrc")
        for path, listing in zip(paths, listings)
    ]
    await run_ffmpeg(ffmpeg, ff.merge_outputs(*outputs).get_args(), ctx=ctx, timeout=render_timeout(0))
    return [parse_framecrc(listing.read_text(encoding="ascii"), fps, listing) for listing in listings]


def parse_framecrc(text: str, fps: int, source: Path) -> VideoPackets:
    """Read a framecrc listing: header lines ``#tb 0: 1/12288``, then
    ``stream, dts, pts, duration, size, checksum[, F=flags]`` per packet (flags shown unless exactly "key")."""
    timebase, extradata = _TIMEBASE_RE.search(text), _EXTRADATA_RE.search(text)
    if timebase is None or extradata is None:
        raise MediaError(f"FFmpeg's packet listing {source.name} lacks its time base or parameter sets")
    frames_per_tick = int(timebase.group(1)) * fps / int(timebase.group(2))
    packets = [_packet(line, frames_per_tick) for line in text.splitlines() if line and not line.startswith("#")]
    if len({packet.frame for packet in packets}) != len(packets):
        raise MediaError(f"{source.name}: two video packets show the same frame")
    return VideoPackets(extradata=" ".join(extradata.group(1).split()), packets=tuple(packets))


def _packet(line: str, frames_per_tick: float) -> Packet:
    fields = [field.strip() for field in line.split(",")]
    flags = next((int(field[2:], 16) for field in fields[6:] if field.startswith("F=")), 1)
    return Packet(frame=round(int(fields[2]) * frames_per_tick), key=bool(flags & 1), digest=fields[5])


# ------------------------------------------------------------------ time


def _seconds(frames: int, profile: RenderProfile) -> str:
    return f"{frames / profile.fps:.6f}"
