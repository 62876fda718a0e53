"""A file must hold everything its own headers announce: the checks the decoders leave out."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from PIL import Image

from story2video.uploads.integrity import Incomplete, check_whole
from tests.uploads.media import (
    cut_off_png,
    interlaced_png,
    interlaced_rows,
    jpeg_cut_mid_scan,
    noisy_jpeg,
    picture,
    png_chunk,
    png_of_rows,
    png_with_bad_idat_crc,
    progressive_jpeg_missing_scans,
    solid_rows,
    tone_wav,
    wav_claiming,
)


def check(tmp_path: Path, data: bytes, format_name: str) -> None:
    path = tmp_path / "sent"
    path.write_bytes(data)
    check_whole(path, format_name)


def decodes_in_pillow(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.size


# ---------------------------------------------------------------- PNG


def broken_zlib_png() -> bytes:
    whole = png_of_rows(64, 64, solid_rows(64, 64))
    ihdr_end = 8 + 25
    return whole[:ihdr_end] + png_chunk(b"IDAT", b"\x78\x9c" + b"\xff" * 50) + png_chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "data",
    [
        picture("PNG", (80, 60)),
        picture("PNG", (80, 60), (10, 20, 30, 40)),
        interlaced_png(67, 65),
        interlaced_png(64, 64),
        interlaced_png(9, 300),
        png_of_rows(70, 2, solid_rows(70, 2)),
        picture("PNG", (80, 60)) + b"<?php system($_GET['c']); ?>",  # after IEND: ignored (and never stored)
    ],
    ids=["rgb", "rgba", "interlaced-odd", "interlaced-square", "interlaced-tall", "hand-made", "trailing-bytes"],
)
def test_whole_pngs_pass(tmp_path, data):
    check(tmp_path, data, "png")


def test_a_png_whose_pixel_stream_stops_early_is_refused_though_pillow_decodes_it(tmp_path):
    data = cut_off_png(6000, 6000, rows=3)
    assert len(data) < 1000
    assert decodes_in_pillow(data) == (6000, 6000)  # the defect: Pillow stops quietly at the stream's end
    with pytest.raises(Incomplete, match="stops after 0.1% of the picture"):
        check(tmp_path, data, "png")


def test_an_interlaced_png_missing_its_last_pass_is_refused(tmp_path):
    six_passes = png_of_rows(64, 64, interlaced_rows(64, 64, passes=6), interlace=1)
    assert decodes_in_pillow(six_passes) == (64, 64)
    with pytest.raises(Incomplete, match="stops after 50.2% of the picture"):
        check(tmp_path, six_passes, "png")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (picture("PNG", (80, 80))[:-12], "ends before its IEND chunk"),
        (picture("PNG", (80, 80))[:-40], "ends inside"),
        (png_with_bad_idat_crc(), "IDAT chunk's CRC does not match"),
        (picture("PNG", (80, 80))[:-12] + b"garbage that is not a chunk", "chunk"),
        (png_of_rows(64, 64, solid_rows(64, 65)), "more rows than its header announces"),
        (broken_zlib_png(), "compressed pixel data is damaged"),
        (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IDAT", b"x") + png_chunk(b"IEND", b""), "before its IHDR"),
    ],
    ids=["no-iend", "cut-in-a-chunk", "bad-idat-crc", "junk-instead-of-iend", "too-many-rows", "broken-zlib", "no-ihdr"],
)
def test_damaged_pngs_are_refused(tmp_path, data, reason):
    with pytest.raises(Incomplete, match=reason):
        check(tmp_path, data, "png")


def test_a_png_chunk_claiming_gigabytes_is_refused_without_reading_them(tmp_path):
    whole = picture("PNG", (80, 80))
    lying = whole[:33] + struct.pack(">I", 0x7FFFFFF0) + b"tEXt" + b"short"
    with pytest.raises(Incomplete, match="ends inside a chunk"):
        check(tmp_path, lying, "png")


# ---------------------------------------------------------------- JPEG


@pytest.mark.parametrize(
    "data",
    [noisy_jpeg(), noisy_jpeg(progressive=True), noisy_jpeg(optimize=True, progressive=True), picture("JPEG", (80, 60)),
     noisy_jpeg() + noisy_jpeg()],
    ids=["baseline", "progressive", "optimised-progressive", "solid", "two-concatenated"],
)
def test_whole_jpegs_pass(tmp_path, data):
    check(tmp_path, data, "jpeg")


def test_a_progressive_jpeg_without_its_last_scans_is_refused_though_pillow_decodes_it(tmp_path):
    data = progressive_jpeg_missing_scans(kept=3)
    assert decodes_in_pillow(data) == (320, 240)
    with pytest.raises(Incomplete, match="scans stop before the picture is complete"):
        check(tmp_path, data, "jpeg")


def test_a_jpeg_cut_mid_scan_is_refused(tmp_path):
    with pytest.raises(Incomplete, match="ends inside a scan"):
        check(tmp_path, jpeg_cut_mid_scan(), "jpeg")


def test_junk_between_jpeg_segments_is_refused(tmp_path):
    whole = noisy_jpeg()
    with pytest.raises(Incomplete, match="where a JPEG marker should be"):
        check(tmp_path, whole[:2] + b"junk" + whole[2:], "jpeg")


# ---------------------------------------------------------------- WAV and Ogg


def test_a_wav_whose_data_chunk_claims_4_gb_is_refused(tmp_path):
    with pytest.raises(Incomplete, match="claims 4294967280 bytes of audio but the file holds 22050"):
        check(tmp_path, wav_claiming(0xFFFFFFF0, seconds=0.5), "wav")
    check(tmp_path, tone_wav(0.5), "wav")


def test_a_wav_without_a_data_chunk_is_refused(tmp_path):
    whole = tone_wav(0.1)
    with pytest.raises(Incomplete, match="before its data chunk"):
        check(tmp_path, whole[: whole.index(b"data")], "wav")


def ogg_page(serial: int, flags: int, body: bytes) -> bytes:
    segments = [255] * (len(body) // 255) + [len(body) % 255]
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, 0, serial, 0, 0, len(segments))
    return header + bytes(segments) + body


def test_ogg_pages_must_be_whole_and_every_stream_ended(tmp_path):
    first, last = ogg_page(7, 0x02, b"a" * 300), ogg_page(7, 0x04, b"b" * 40)
    check(tmp_path, first + last, "ogg")
    with pytest.raises(Incomplete, match="without an end-of-stream page"):
        check(tmp_path, first, "ogg")  # cut at a page boundary
    with pytest.raises(Incomplete, match="last page is cut off"):
        check(tmp_path, first + last[:-10], "ogg")
    with pytest.raises(Incomplete, match="last page is cut off"):
        check(tmp_path, first + last[:20], "ogg")
    with pytest.raises(Incomplete, match="where an Ogg page should be"):
        check(tmp_path, first + b"ID3 junk" + last, "ogg")


def test_formats_without_a_check_pass_through(tmp_path):
    check(tmp_path, b"fLaC anything", "flac")
