"""Crossfades that copy the segments' middles and re-encode only the dissolving frames."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import ffmpeg as ff
import pytest
from loguru import logger

from story2video.errors import MediaError
from story2video.media import transitions
from story2video.media.compose import encode_segment
from story2video.media.dissolves import Edges, dissolved_frames
from story2video.media.encoding import video_args
from story2video.media.ffmpeg import locate_ffmpeg, run_ffmpeg
from story2video.media.fonts import FontInfo
from story2video.media.transitions import (
    FASTER_DISSOLVES, crossfade_keyframes, encode_transition, faster_dissolves, list_packets, parse_framecrc,
)
from story2video.stagecontext import StageContext
from tests.media.avcheck import colour_distance, frames, mean_colour, nearest_palette_index, streams, video_packet_digests
from tests.media.conftest import SMALL
from tests.media.segments import NARRATION_S, RecordingSlot, Segments, build_segments, join, segment_spec

CROSSFADE = 0.5
FADE_FRAMES = SMALL.frames(CROSSFADE)


def whole_re_encode(segments: Segments, dest: Path, crossfade: float) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transitions, "CUTTABLE_ENCODERS", ())
        join(segments, dest, crossfade=crossfade)


@pytest.fixture(scope="module")
def prepared(ffmpeg_bin: Path, tmp_path_factory: pytest.TempPathFactory, font: FontInfo) -> Segments:
    """Eight segments encoded for a 0.5 s crossfade."""
    return build_segments(ffmpeg_bin, tmp_path_factory.mktemp("prepared"), font, NARRATION_S, crossfade=CROSSFADE)


@pytest.fixture(scope="module")
def cut(prepared: Segments, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("cut") / "cut.mp4"
    join(prepared, dest, crossfade=CROSSFADE)
    return dest


@pytest.fixture(scope="module")
def reference(prepared: Segments, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("reference") / "reference.mp4"
    whole_re_encode(prepared, dest, CROSSFADE)
    return dest


def assert_same_pictures(ours: Path, reference: Path) -> None:
    """Frame for frame the same timestamps and (up to encoding noise) the same colours."""
    ours_frames, reference_frames = frames(ours), frames(reference)
    assert [time for time, _ in ours_frames] == pytest.approx([time for time, _ in reference_frames], abs=1e-3)
    for (time, picture), (_, expected) in zip(ours_frames, reference_frames):
        assert colour_distance(mean_colour(picture), mean_colour(expected)) < 6, f"frame at {time:.3f} s"


def test_middles_are_copied_and_only_transitions_encoded(prepared: Segments, cut: Path) -> None:
    final_packets = video_packet_digests(cut)
    position = 0
    last = len(prepared.paths) - 1
    for index, path in enumerate(prepared.paths):
        segment_packets = video_packet_digests(path)  # decode order: a middle starts at its IDR
        start = FADE_FRAMES if index > 0 else 0
        end = len(segment_packets) - (FADE_FRAMES if index < last else 0)
        assert final_packets[position : position + end - start] == segment_packets[start:end], f"segment {index}"
        position += end - start + (FADE_FRAMES if index < last else 0)
    assert position == len(final_packets)


def test_cut_join_shows_what_the_whole_re_encode_shows(cut: Path, reference: Path) -> None:
    assert_same_pictures(cut, reference)
    info = streams(cut)
    assert info.duration == pytest.approx(streams(reference).duration, abs=0.01)
    assert info.audio_duration == pytest.approx(info.video_duration, abs=0.03)


def test_segments_encoded_for_another_crossfade_are_re_encoded_whole(prepared: Segments, tmp_path: Path) -> None:
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="INFO", format="{message}")
    try:
        dest = tmp_path / "other.mp4"
        join(prepared, dest, crossfade=0.25)
    finally:
        logger.remove(sink)
    assert any("re-encodes the whole video" in line and "no keyframe at frame" in line for line in lines), lines
    assert streams(dest).duration == pytest.approx(sum(prepared.durations) - 7 * 0.25, abs=0.05)


def test_a_segment_of_exactly_two_crossfades_has_no_middle(ffmpeg_bin: Path, tmp_path: Path, font: FontInfo) -> None:
    # lead-in 0.2 + narration 0.4 + tail 0.4 = 1.0 s = 12 frames = two 6-frame crossfades
    segments = build_segments(ffmpeg_bin, tmp_path, font, [0.9, 0.4, 1.1], crossfade=CROSSFADE)
    assert SMALL.frames(segments.durations[1]) == 2 * FADE_FRAMES
    ours, reference = tmp_path / "cut.mp4", tmp_path / "reference.mp4"
    join(segments, ours, crossfade=CROSSFADE)
    whole_re_encode(segments, reference, CROSSFADE)
    assert_same_pictures(ours, reference)


def made_beforehand(segments: Segments, indexes: list[int], folder: Path, fade: int = FADE_FRAMES) -> dict[int, Path]:
    return {
        index: asyncio.run(encode_transition(
            locate_ffmpeg(), segments.paths[index], segments.paths[index + 1], SMALL.frames(segments.durations[index]), fade,
            SMALL, folder / f"early{index}.mp4", StageContext(), threads=1,
        ))
        for index in indexes
    }


def test_transitions_made_beforehand_are_joined_as_they_are(prepared: Segments, reference: Path, tmp_path: Path) -> None:
    made = made_beforehand(prepared, [0, 3, 6], tmp_path)
    dest = tmp_path / "joined.mp4"
    join(prepared, dest, crossfade=CROSSFADE, transitions=made)
    final_packets = video_packet_digests(dest)
    for index, path in made.items():
        start = sum(SMALL.frames(duration) - FADE_FRAMES for duration in prepared.durations[: index + 1])
        assert final_packets[start : start + FADE_FRAMES] == video_packet_digests(path), f"transition {index}"
    assert_same_pictures(dest, reference)


def test_a_transition_made_beforehand_that_does_not_fit_is_encoded_again(prepared: Segments, reference: Path, tmp_path: Path) -> None:
    made = made_beforehand(prepared, [2], tmp_path, fade=FADE_FRAMES - 2)  # too short
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="WARNING", format="{message}")
    try:
        dest = tmp_path / "joined.mp4"
        join(prepared, dest, crossfade=CROSSFADE, transitions=made)
    finally:
        logger.remove(sink)
    assert any("early2.mp4 does not fit" in line for line in lines), lines
    assert_same_pictures(dest, reference)


def test_the_join_cuts_the_middles_while_the_transitions_are_still_being_made(
    prepared: Segments, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = made_beforehand(prepared, [1, 4], tmp_path)
    middles_cut = asyncio.Event()
    copy_middles = transitions._copied_middles

    async def spied(*args, **kwargs) -> str:
        mismatch = await copy_middles(*args, **kwargs)
        middles_cut.set()
        return mismatch

    async def still_being_made() -> dict[int, Path]:
        # finished only after the middles are cut: a join that waited for the transitions first would time out
        await asyncio.wait_for(middles_cut.wait(), 60)
        return made

    monkeypatch.setattr(transitions, "_copied_middles", spied)
    slot = RecordingSlot()
    dest = tmp_path / "joined.mp4"
    join(prepared, dest, crossfade=CROSSFADE, transitions=still_being_made(), slot=slot)
    final_packets = video_packet_digests(dest)
    start = sum(SMALL.frames(duration) - FADE_FRAMES for duration in prepared.durations[:2])
    assert final_packets[start : start + FADE_FRAMES] == video_packet_digests(made[1])
    assert slot.entered == 1  # for the five transitions made by the join; the rest is copied
    assert_same_pictures(dest, reference)


def test_a_join_that_only_copies_holds_no_slot(prepared: Segments, tmp_path: Path) -> None:
    made = made_beforehand(prepared, list(range(len(prepared.paths) - 1)), tmp_path)
    slot = RecordingSlot()
    join(prepared, tmp_path / "joined.mp4", crossfade=CROSSFADE, transitions=made, slot=slot)
    assert slot.entered == 0


def test_a_re_encoding_join_holds_its_slot(prepared: Segments, tmp_path: Path) -> None:
    slot = RecordingSlot()
    join(prepared, tmp_path / "joined.mp4", crossfade=0.25, slot=slot)  # segments cut for 0.5 s: re-encoded whole
    assert slot.entered == 1


def test_a_failed_transition_fails_the_join(prepared: Segments, tmp_path: Path) -> None:
    async def failing() -> dict[int, Path]:
        raise MediaError("transition 3 could not be encoded")

    with pytest.raises(MediaError, match="transition 3"):
        join(prepared, tmp_path / "joined.mp4", crossfade=CROSSFADE, transitions=failing())
    assert not (tmp_path / "joined.mp4").exists()


@pytest.mark.parametrize("preset", sorted(FASTER_DISSOLVES))
def test_faster_dissolves_write_the_segments_parameter_sets(preset: str, tmp_path: Path) -> None:
    """Pieces are joined by copying: a transition must carry exactly the segments' SPS and PPS."""
    ffmpeg = locate_ffmpeg()
    profile = replace(SMALL, preset=preset)
    listings = []
    for name, options in (("segment", video_args(profile)), ("dissolve", video_args(profile) | faster_dissolves(profile))):
        dest = tmp_path / f"{name}.mp4"
        source = ff.input("testsrc2=size=320x180:rate=12:duration=1", f="lavfi").video
        asyncio.run(run_ffmpeg(ffmpeg, ff.output(source, str(dest), **options, an=None).get_args()))
        listings.append(asyncio.run(list_packets(ffmpeg, [dest], SMALL.fps, tmp_path / name, StageContext()))[0])
    assert faster_dissolves(profile)
    assert listings[0].extradata == listings[1].extradata


def test_crossfade_keyframes() -> None:
    assert crossfade_keyframes(48, 12) == (12, 36)
    assert crossfade_keyframes(24, 12) == (12,)
    assert crossfade_keyframes(48, 0) == ()


def test_framecrc_listing_is_read_in_decode_order() -> None:
    listing = "\n".join([
        "#format: frame checksums",
        "#version: 2",
        "#hash: adler32",
        "#extradata 0:       48, 0x5498100b",
        "#tb 0: 1/12288",
        "#media_type 0: video",
        "0,      -1024,          0,      512,     4642, 0x6d3da6ae",
        "0,       -512,       1536,      512,     2073, 0x97841594, F=0x0",
        "0,          0,        512,      512,     1201, 0x4c735107, F=0x0",
        "0,        512,       1024,      512,      926, 0x1513d1dd, F=0x0",
        "0,       1024,       2048,      512,     5192, 0xf8181849, F=0x1, S=1, 8",
    ])
    packets = parse_framecrc(listing, 24, Path("listing.crc"))
    assert packets.extradata == "48, 0x5498100b"
    assert [packet.frame for packet in packets.packets] == [0, 3, 1, 2, 4]
    assert packets.keyframes() == {0, 4}
    assert packets.run_from(3, 2) == ("0x97841594", "0x4c735107")


def test_cut_join_with_music_keeps_audio_and_video_together(prepared: Segments, tmp_path: Path) -> None:
    dest = tmp_path / "music.mp4"
    seconds = join(prepared, dest, crossfade=CROSSFADE, generated_music=True)
    info = streams(dest)
    assert seconds == pytest.approx(sum(prepared.durations) - 7 * CROSSFADE, abs=0.05)
    assert info.audio_duration == pytest.approx(info.video_duration, abs=0.03)


def test_dissolved_frames_mix_as_xfade_does(tmp_path: Path) -> None:
    width, height, fade = 4, 2, 4
    frame_bytes = width * height * 3 // 2
    tail, head = tmp_path / "tail.yuv", tmp_path / "head.yuv"
    tail.write_bytes(bytes([200]) * frame_bytes * fade)
    head.write_bytes(bytes([40]) * frame_bytes * fade)
    mixed = [bytes(frame) for frame in dissolved_frames(tail, head, fade, width, height)]
    assert [frame[0] for frame in mixed] == [200, 160, 120, 80]  # frame k: tail * (1 - k/fade) + head * k/fade
    assert all(len(set(frame)) == 1 and len(frame) == frame_bytes for frame in mixed)


def test_an_edge_of_the_wrong_size_is_a_media_error(tmp_path: Path) -> None:
    tail, head = tmp_path / "tail.yuv", tmp_path / "head.yuv"
    tail.write_bytes(bytes(12 * 4))
    head.write_bytes(bytes(12 * 3))  # a frame short: its segment's run did not finish writing it
    with pytest.raises(MediaError, match="head.yuv"):
        list(dissolved_frames(tail, head, 4, 4, 2))


def test_a_transition_from_the_segments_edges_shows_what_one_decoded_from_them_shows(
    ffmpeg_bin: Path, font: FontInfo, tmp_path: Path
) -> None:
    fade = FADE_FRAMES
    specs = [segment_spec(tmp_path, font, index, CROSSFADE) for index in range(2)]
    paths = [tmp_path / f"segment{index}.mp4" for index in range(2)]
    edges = [Edges(tail=tmp_path / "tail0.yuv"), Edges(head=tmp_path / "head1.yuv")]
    durations = [asyncio.run(encode_segment(ffmpeg_bin, spec, SMALL, path, StageContext(), edges=edge))
                 for spec, path, edge in zip(specs, paths, edges)]
    made = {}
    for name, given in (("edges", (edges[0].tail, edges[1].head)), ("decoded", (None, None))):
        made[name] = asyncio.run(encode_transition(
            ffmpeg_bin, paths[0], paths[1], SMALL.frames(durations[0]), fade, SMALL, tmp_path / f"{name}.mp4", StageContext(),
            edges=given,
        ))
    assert_same_pictures(made["edges"], made["decoded"])
    first, last = frames(made["edges"])[0][1], frames(made["edges"])[-1][1]
    assert nearest_palette_index(mean_colour(first)) == 0  # the dissolve leaves segment 0 ...
    assert nearest_palette_index(mean_colour(last)) == 1  # ... for segment 1
