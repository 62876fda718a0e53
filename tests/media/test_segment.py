from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from story2video.errors import MediaError, OperationCancelled
from story2video.media import compose
from story2video.media.compose import SegmentSpec, encode_segment
from story2video.media.dissolves import Edges
from story2video.media.encoding import RenderProfile, output_size
from story2video.media.ffmpeg import run_ffmpeg
from story2video.media.fonts import FontInfo
from story2video.media.subtitles import Cue
from story2video.media.transitions import list_packets
from story2video.providers.base import CAMERA_MOVES, ClipFile, StageContext, StillMotion
from tests.media.avcheck import (
    PALETTE,
    audio_samples,
    bright_box,
    changed_pixels,
    child_processes,
    colour_distance,
    frame_at,
    frames,
    mean_colour,
    onset,
    streams,
    write_card,
    write_target,
    write_tone,
)
from tests.media.segments import RecordingSlot

LEAD_IN, TAIL = 0.2, 0.4
TONE_AMPLITUDE = 0.5


def make_spec(folder: Path, font: FontInfo, *, narration_s: float = 1.0, colour=PALETTE[0], **changes) -> SegmentSpec:
    keyframe = write_card(folder / "key.png", (480, 270), colour)
    narration = write_tone(folder / "voice.wav", narration_s, 440, amplitude=TONE_AMPLITUDE)
    spec = SegmentSpec(
        keyframe=keyframe,
        clip=StillMotion("static"),
        narration=narration,
        narration_duration=narration_s,
        lead_in=LEAD_IN,
        tail=TAIL,
        cues=None,
        font=font,
    )
    return replace(spec, **changes)


def encode(
    ffmpeg: Path, spec: SegmentSpec, profile: RenderProfile, dest: Path, ctx: StageContext | None = None
) -> float:
    return asyncio.run(encode_segment(ffmpeg, spec, profile, dest, ctx or StageContext()))


@pytest.mark.parametrize(
    ("aspect", "short", "size"),
    [("16:9", 720, (1280, 720)), ("9:16", 720, (720, 1280)), ("1:1", 720, (720, 720)),
     ("16:9", 1080, (1920, 1080)), ("16:9", 480, (854, 480)), ("9:16", 181, (180, 320))],
)
def test_output_size(aspect: str, short: int, size: tuple[int, int]) -> None:
    assert output_size(aspect, short) == size


def test_segment_streams_and_duration(ffmpeg_bin: Path, font: FontInfo, profile: RenderProfile, tmp_path: Path) -> None:
    spec = make_spec(tmp_path, font, narration_s=1.3)
    reported: list[float] = []
    dest = tmp_path / "segment.tmp.mp4"
    seconds = encode(ffmpeg_bin, spec, profile, dest, StageContext(progress=reported.append))
    info = streams(dest)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert (info.width, info.height, info.fps) == (320, 180, 12)
    assert (info.video_profile, info.pix_fmt) == ("High", "yuv420p")
    assert (info.sample_rate, info.channels) == (48000, 2)
    assert seconds == pytest.approx(spec.duration, abs=0.05)
    assert info.duration == pytest.approx(spec.duration, abs=0.05)
    assert info.video_duration == pytest.approx(info.audio_duration, abs=0.001)
    assert reported and reported[-1] == 1.0


def test_narration_starts_after_the_lead_in(
    ffmpeg_bin: Path, font: FontInfo, profile: RenderProfile, tmp_path: Path
) -> None:
    dest = tmp_path / "segment.mp4"
    encode(ffmpeg_bin, make_spec(tmp_path, font), profile, dest)
    samples = audio_samples(dest)
    assert max(abs(value) for value in samples[: int(0.15 * 48000)]) < 300  # silent lead-in
    assert onset(samples, 0.0, threshold=8000) == pytest.approx(LEAD_IN, abs=0.01)
    tail_start = LEAD_IN + 1.0 + 0.03
    assert max(abs(value) for value in samples[int(tail_start * 48000) :]) < 300  # silent tail


@pytest.mark.parametrize("aspect", ["16:9", "9:16", "1:1"])
def test_each_aspect_fills_the_frame(ffmpeg_bin: Path, font: FontInfo, tmp_path: Path, aspect: str) -> None:
    width, height = output_size(aspect, 180)
    profile = RenderProfile(width=width, height=height, fps=12)
    colour = PALETTE[2]
    dest = tmp_path / "segment.mp4"
    encode(ffmpeg_bin, make_spec(tmp_path, font, narration_s=0.5, colour=colour), profile, dest)
    info = streams(dest)
    assert (info.width, info.height) == (width, height)
    picture = frame_at(dest, 0.3)
    for edge in [(0, 0, width, 4), (0, height - 4, width, height), (0, 0, 4, height), (width - 4, 0, width, height)]:
        assert colour_distance(mean_colour(picture, edge), colour) < 40  # cover-fit: no black bars


def test_subtitles_are_burned_in(ffmpeg_bin: Path, font: FontInfo, profile: RenderProfile, tmp_path: Path) -> None:
    plain, subtitled = tmp_path / "plain.mp4", tmp_path / "subtitled.mp4"
    spec = make_spec(tmp_path, font, colour=(90, 90, 90))
    encode(ffmpeg_bin, spec, profile, plain)
    cues = [Cue(LEAD_IN, 0.7, "山高水长"), Cue(0.7, LEAD_IN + 1.0, "月落乌啼")]
    encode(ffmpeg_bin, replace(spec, cues=cues), profile, subtitled)
    lower, upper = (0, 120, 320, 180), (0, 0, 320, 100)
    assert changed_pixels(frame_at(plain, 0.5), frame_at(subtitled, 0.5), lower) >= 30
    assert changed_pixels(frame_at(plain, 0.5), frame_at(subtitled, 0.5), upper) == 0
    assert changed_pixels(frame_at(plain, 1.5), frame_at(subtitled, 1.5), lower) == 0  # after the last cue


MOVE_EFFECTS = {
    # move: (square grows, horizontal drift, vertical drift) between first and last frame
    "static": (0, 0, 0),
    "push_in": (1, 0, 0),
    "pull_out": (-1, 0, 0),
    "pan_right": (0, -1, 0),
    "pan_left": (0, 1, 0),
    "tilt_down": (0, 0, -1),
    "tilt_up": (0, 0, 1),
}


def sign(value: float, dead_zone: float) -> int:
    return 0 if abs(value) <= dead_zone else (1 if value > 0 else -1)


@pytest.mark.parametrize("move", CAMERA_MOVES)
def test_camera_moves_go_the_right_way(
    ffmpeg_bin: Path, font: FontInfo, profile: RenderProfile, tmp_path: Path, move: str
) -> None:
    target = write_target(tmp_path / "target.png", (640, 360))
    spec = make_spec(tmp_path, font, narration_s=0.6, keyframe=target, clip=StillMotion(move, zoom=1.2))
    dest = tmp_path / "moving.mp4"
    encode(ffmpeg_bin, spec, profile, dest)
    decoded = frames(dest)
    left0, top0, right0, bottom0 = bright_box(decoded[0][1])
    left1, top1, right1, bottom1 = bright_box(decoded[-1][1])
    growth = (right1 - left1) - (right0 - left0)
    drift_x = (left1 + right1 - left0 - right0) / 2
    drift_y = (top1 + bottom1 - top0 - bottom0) / 2
    assert (sign(growth, 3), sign(drift_x, 3), sign(drift_y, 3)) == MOVE_EFFECTS[move]


def test_a_short_clip_holds_its_last_frame(
    ffmpeg_bin: Path, font: FontInfo, profile: RenderProfile, tmp_path: Path
) -> None:
    clip = tmp_path / "clip.mp4"
    make_clip(ffmpeg_bin, clip, "color=c=0x1EC828:s=200x300:r=25:d=0.5")  # green, portrait, 0.5 s
    spec = make_spec(tmp_path, font, clip=ClipFile(path=clip, duration=0.5))
    dest = tmp_path / "segment.mp4"
    seconds = encode(ffmpeg_bin, spec, profile, dest)
    assert seconds == pytest.approx(spec.duration, abs=0.05)
    assert streams(dest).duration == pytest.approx(spec.duration, abs=0.05)
    last = frame_at(dest, spec.duration - 0.05)
    assert colour_distance(mean_colour(last), (30, 200, 40)) < 40
    assert (last.width, last.height) == (320, 180)


def test_a_long_clip_is_trimmed(ffmpeg_bin: Path, font: FontInfo, profile: RenderProfile, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    # red for 1 s, then blue for 2 s, at 30 fps
    red, blue = "color=c=0xDC1E1E:s=320x180:r=30:d=1[a]", "color=c=0x283CE6:s=320x180:r=30:d=2[b]"
    make_clip(ffmpeg_bin, clip, f"{red};{blue};[a][b]concat")
    spec = make_spec(tmp_path, font, clip=ClipFile(path=clip, duration=3.0))
    dest = tmp_path / "segment.mp4"
    seconds = encode(ffmpeg_bin, spec, profile, dest)
    assert seconds == pytest.approx(spec.duration, abs=0.05)
    assert streams(dest).fps == 12
    assert colour_distance(mean_colour(frame_at(dest, 0.5)), (220, 30, 30)) < 40
    assert colour_distance(mean_colour(frame_at(dest, spec.duration - 0.05)), (40, 60, 230)) < 40


def make_clip(ffmpeg: Path, dest: Path, graph: str) -> None:
    args = ["-f", "lavfi", "-i", graph, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-f", "mp4", str(dest)]
    asyncio.run(run_ffmpeg(ffmpeg, args))


def test_cancel_mid_encode(ffmpeg_bin: Path, font: FontInfo, profile: RenderProfile, tmp_path: Path) -> None:
    spec = make_spec(tmp_path, font, narration_s=120.0)  # minutes of work: cancelled long before the end
    polls = itertools.count()
    ctx = StageContext(is_cancelled=lambda: next(polls) >= 3)
    dest = tmp_path / "segment.tmp.mp4"
    with pytest.raises(OperationCancelled):
        encode(ffmpeg_bin, spec, profile, dest, ctx)
    assert not dest.exists()
    assert not any("ffmpeg" in name for _, name in child_processes())


def test_unreadable_keyframe_is_a_media_error(
    ffmpeg_bin: Path, font: FontInfo, profile: RenderProfile, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    dest = tmp_path / "segment.mp4"
    with pytest.raises(MediaError) as caught:
        encode(ffmpeg_bin, make_spec(tmp_path, font, keyframe=broken), profile, dest)
    assert "Invalid data found" in caught.value.message  # from FFmpeg's stderr
    assert not dest.exists()


def test_the_slot_is_held_while_the_segment_encodes_not_while_it_is_probed(
    ffmpeg_bin: Path, font: FontInfo, profile: RenderProfile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slot = RecordingSlot()
    held: dict[str, list[bool]] = {"encoding": [], "probing": []}
    encoding, probing = compose.render, compose.confirmed_duration

    async def encode_spy(*args, **kwargs) -> None:
        held["encoding"].append(slot.held)
        await encoding(*args, **kwargs)

    async def probe_spy(*args, **kwargs) -> float:
        held["probing"].append(slot.held)
        return await probing(*args, **kwargs)

    monkeypatch.setattr(compose, "render", encode_spy)
    monkeypatch.setattr(compose, "confirmed_duration", probe_spy)
    spec = make_spec(tmp_path, font, clip=StillMotion("push_in", zoom=1.1))
    asyncio.run(encode_segment(ffmpeg_bin, spec, profile, tmp_path / "segment.mp4", StageContext(), slot=slot))
    assert held == {"encoding": [True], "probing": [False]}
    assert slot.entered == 1


def test_segments_from_every_kind_of_picture_write_the_same_parameter_sets(
    ffmpeg_bin: Path, font: FontInfo, profile: RenderProfile, tmp_path: Path
) -> None:
    """A join copies the pieces together: held stills, moved stills, clips and the transitions between
    them (raw frames, like moved stills) must carry the same SPS and PPS."""
    clip = tmp_path / "clip.mp4"
    make_clip(ffmpeg_bin, clip, "testsrc2=s=200x300:r=25:d=2")  # another size, rate and tagging than the output
    pictures = {"held": StillMotion("static"), "moved": StillMotion("pan_left", zoom=1.2), "clip": ClipFile(path=clip, duration=2.0)}
    extradata = {}
    for name, picture in pictures.items():
        folder = tmp_path / name
        folder.mkdir()
        dest = folder / "segment.mp4"
        encode(ffmpeg_bin, make_spec(folder, font, clip=picture, crossfade=0.5), profile, dest)
        extradata[name] = asyncio.run(list_packets(ffmpeg_bin, [dest], profile.fps, folder / "packets", StageContext()))[0].extradata
    assert len(set(extradata.values())) == 1, extradata


def test_a_segment_writes_the_edges_of_its_crossfades_as_it_shows_them(
    ffmpeg_bin: Path, font: FontInfo, profile: RenderProfile, tmp_path: Path
) -> None:
    target = write_target(tmp_path / "target.png", (480, 270))  # sharp edges: one frame off shows
    spec = make_spec(tmp_path, font, clip=StillMotion("pan_left", zoom=1.5), crossfade=0.5, keyframe=target,
                     cues=[Cue(0.0, 1.6, "字幕 subtitles")])
    edges = Edges(head=tmp_path / "head.yuv", tail=tmp_path / "tail.yuv")
    dest = tmp_path / "segment.mp4"
    seconds = asyncio.run(encode_segment(ffmpeg_bin, spec, profile, dest, StageContext(), edges=edges))
    fade, count = profile.fade_frames(0.5), profile.frames(seconds)
    luma = profile.width * profile.height
    with av.open(str(dest)) as container:
        shown = [frame.to_ndarray(format="yuv420p").reshape(-1)[:luma] for frame in container.decode(video=0)]
    assert len(shown) == count
    for path, first in ((edges.head, 0), (edges.tail, count - fade)):
        raw = np.frombuffer(path.read_bytes(), dtype=np.uint8).reshape(fade, -1)
        assert raw.shape[1] == luma * 3 // 2
        for index in range(fade):  # the pictures before encoding: within x264's noise of what the segment shows
            difference = np.abs(raw[index, :luma].astype(int) - shown[first + index].astype(int))
            assert difference.mean() < 1.0, (path.name, index, difference.mean())
