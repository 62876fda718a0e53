"""Uploads are decoded in full into the one file the pipeline uses; damaged or oversized ones are refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PIL import Image

from story2video.errors import InvalidRequest, PayloadTooLarge
from story2video.media.ffmpeg import locate_ffmpeg, run_ffmpeg
from story2video.media.probe import probe
from story2video.uploads.formats import FLAC, JPEG, M4A, MP3, OGG, PNG, WAV, WEBP, UploadFormat
from story2video.uploads.normalise import normalise_audio, normalise_image, normalise_picture
from tests.uploads.media import (
    cut_off_png,
    jpeg_cut_mid_scan,
    noisy_jpeg,
    picture,
    png_claiming,
    png_with_bad_idat_crc,
    progressive_jpeg_missing_scans,
    rotated_jpeg,
    tone_wav,
    wav_claiming,
)

MAX_PIXELS = 4_000_000


def write(tmp_path: Path, data: bytes, name: str = "sent") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_jpeg_becomes_an_upright_rgb_png(tmp_path):
    dest = tmp_path / "out.png"
    facts = normalise_picture(write(tmp_path, rotated_jpeg((320, 200))), dest, JPEG, MAX_PIXELS)
    assert (facts.width, facts.height) == (200, 320)
    with Image.open(dest) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "RGB", (200, 320))
        assert "exif" not in image.info


def test_transparency_is_laid_over_black(tmp_path):
    dest = tmp_path / "out.png"
    normalise_picture(write(tmp_path, picture("PNG", (80, 80), (255, 255, 255, 0))), dest, PNG, MAX_PIXELS)
    with Image.open(dest) as image:
        assert image.mode == "RGB" and image.getpixel((40, 40)) == (0, 0, 0)


def test_bytes_after_the_picture_are_not_kept(tmp_path):
    dest = tmp_path / "out.png"
    payload = b"<?php system($_GET['c']); ?>" * 10
    normalise_picture(write(tmp_path, picture("PNG", (80, 80)) + payload), dest, PNG, MAX_PIXELS)
    assert payload not in dest.read_bytes()


def test_a_picture_announcing_too_many_pixels_is_refused_before_decoding(tmp_path):
    with pytest.raises(PayloadTooLarge, match="MAX_UPLOAD_PIXELS") as caught:
        normalise_picture(write(tmp_path, png_claiming(30000, 30000)), tmp_path / "out.png", PNG, MAX_PIXELS)
    assert caught.value.param == "file"
    assert not (tmp_path / "out.png").exists()


def test_a_cut_off_picture_is_refused(tmp_path):
    whole = picture("JPEG", (640, 480), quality=95)
    with pytest.raises(InvalidRequest, match="damaged or cut off") as caught:
        normalise_picture(write(tmp_path, whole[: len(whole) // 2]), tmp_path / "out.png", JPEG, MAX_PIXELS)
    assert caught.value.code == "invalid_upload"


def test_a_file_is_only_opened_with_the_decoder_of_its_sniffed_format(tmp_path):
    """A PNG renamed or mislabelled as WebP is not decoded by whatever Pillow guesses."""
    with pytest.raises(InvalidRequest, match="not a readable picture"):
        normalise_picture(write(tmp_path, picture("PNG", (80, 80))), tmp_path / "out.png", WEBP, MAX_PIXELS)


def test_a_tiny_picture_is_refused(tmp_path):
    with pytest.raises(InvalidRequest, match="at least 64 pixels"):
        normalise_picture(write(tmp_path, picture("PNG", (32, 300))), tmp_path / "out.png", PNG, MAX_PIXELS)


@pytest.fixture(scope="module")
def ffmpeg() -> Path:
    return locate_ffmpeg()


def test_wav_audio_becomes_stereo_aac(tmp_path, ffmpeg):
    dest = tmp_path / "out.m4a"
    facts = asyncio.run(normalise_audio(ffmpeg, write(tmp_path, tone_wav(1.5)), dest, WAV, 60))
    assert facts.duration == pytest.approx(1.5, abs=0.1)
    info = probe(ffmpeg, dest)
    assert info.video is None and info.audio.codec == "aac" and info.audio.channels == 2


def test_audio_longer_than_the_limit_is_refused(tmp_path, ffmpeg):
    with pytest.raises(InvalidRequest, match="MAX_UPLOAD_AUDIO_S"):
        asyncio.run(normalise_audio(ffmpeg, write(tmp_path, tone_wav(3.0)), tmp_path / "out.m4a", WAV, 1.0))


def test_audio_that_does_not_decode_is_refused(tmp_path, ffmpeg):
    garbage = b"fLaC" + bytes(range(256)) * 40
    with pytest.raises(InvalidRequest, match="cannot be decoded") as caught:
        asyncio.run(normalise_audio(ffmpeg, write(tmp_path, garbage), tmp_path / "out.m4a", FLAC, 60))
    assert caught.value.code == "invalid_upload"


def test_a_video_without_sound_is_not_audio(tmp_path, ffmpeg):
    silent_mp4 = tmp_path / "silent.mp4"
    args = ["-f", "lavfi", "-i", "color=c=red:s=64x64:d=1", "-c:v", "libx264", str(silent_mp4)]
    asyncio.run(run_ffmpeg(ffmpeg, args))
    with pytest.raises(InvalidRequest, match="cannot be decoded"):
        asyncio.run(normalise_audio(ffmpeg, silent_mp4, tmp_path / "out.m4a", M4A, 60))


# ---------------------------------------------------------------- files that do not decode completely


def assert_refused_without_paths(caught: pytest.ExceptionInfo, tmp_path: Path) -> None:
    message = caught.value.message
    assert caught.value.code == "invalid_upload" and caught.value.param == "file"
    assert "/" not in message and "tmp" not in message.lower() and str(tmp_path) not in message, message


def test_a_6000_square_png_cut_after_3_rows_is_refused(tmp_path):
    with pytest.raises(InvalidRequest, match="damaged or cut off: its pixel data stops after 0.1%") as caught:
        normalise_picture(write(tmp_path, cut_off_png(6000, 6000, rows=3)), tmp_path / "out.png", PNG, 40_000_000)
    assert_refused_without_paths(caught, tmp_path)
    assert not (tmp_path / "out.png").exists()


def test_the_pixel_limit_is_still_checked_before_anything_is_decoded(tmp_path):
    with pytest.raises(PayloadTooLarge, match="MAX_UPLOAD_PIXELS"):
        normalise_picture(write(tmp_path, cut_off_png(6000, 6000, rows=3)), tmp_path / "out.png", PNG, MAX_PIXELS)


@pytest.mark.parametrize(
    ("data", "fmt", "reason"),
    [
        (picture("PNG", (80, 80))[:-12], PNG, "ends before its IEND chunk"),
        (png_with_bad_idat_crc(), PNG, "IDAT chunk's CRC does not match"),
        (progressive_jpeg_missing_scans(kept=3), JPEG, "scans stop before the picture is complete"),
        (jpeg_cut_mid_scan(), JPEG, "damaged or cut off"),
        (jpeg_cut_mid_scan(with_eoi=True), JPEG, "cannot be decoded"),
        (picture("WEBP", (200, 200), quality=80)[:-200], WEBP, "not a readable picture"),
    ],
    ids=["png-without-iend", "png-bad-idat-crc", "progressive-jpeg-missing-scans", "jpeg-cut-mid-scan",
         "jpeg-cut-mid-scan-then-eoi", "webp-cut"],
)
def test_pictures_that_do_not_decode_completely_are_refused(tmp_path, ffmpeg, data, fmt, reason):
    with pytest.raises(InvalidRequest, match=reason) as caught:
        asyncio.run(normalise_image(ffmpeg, write(tmp_path, data), tmp_path / "out.png", fmt, MAX_PIXELS))
    assert_refused_without_paths(caught, tmp_path)


@pytest.mark.parametrize(
    ("data", "fmt"),
    [(noisy_jpeg(), JPEG), (noisy_jpeg(progressive=True), JPEG), (noisy_jpeg() + b"trailing junk" * 5, JPEG),
     (picture("JPEG", (80, 80), (20, 200, 20)), JPEG), (picture("PNG", (80, 80)), PNG), (picture("WEBP", (80, 80)), WEBP)],
    ids=["jpeg", "progressive-jpeg", "jpeg-with-trailing-bytes", "solid-jpeg", "png", "webp"],
)
def test_whole_pictures_pass_the_strict_decode(tmp_path, ffmpeg, data, fmt):
    facts = asyncio.run(normalise_image(ffmpeg, write(tmp_path, data), tmp_path / "out.png", fmt, MAX_PIXELS))
    assert facts.width and facts.height and (tmp_path / "out.png").is_file()


def test_a_wav_whose_header_claims_4_gb_is_refused_naming_no_file(tmp_path, ffmpeg):
    with pytest.raises(InvalidRequest, match="claims 4294967280 bytes of audio but the file holds 22050") as caught:
        asyncio.run(normalise_audio(ffmpeg, write(tmp_path, wav_claiming(0xFFFFFFF0), "x.tmp.1234.upload"), tmp_path / "o.m4a", WAV, 900))
    assert_refused_without_paths(caught, tmp_path)


def test_an_ffmpeg_that_writes_nothing_and_exits_0_is_a_refusal_not_a_backend_error(tmp_path):
    """Older FFmpeg builds exit 0 with an empty output on a lying WAV; the probe of that output then
    failed with 502 invalid_artifact naming the temp file."""
    silent = tmp_path / "ffmpeg"
    silent.write_text("#!/bin/sh\nexit 0\n")
    silent.chmod(0o755)
    dest = tmp_path / "abc.tmp.1234abcd.m4a"
    with pytest.raises(InvalidRequest, match="cannot be decoded") as caught:
        asyncio.run(normalise_audio(silent, write(tmp_path, tone_wav(0.5)), dest, WAV, 900))
    assert_refused_without_paths(caught, tmp_path)


def encoded_tone(ffmpeg: Path, folder: Path, name: str, *codec: str, seconds: float = 3.0) -> bytes:
    path = folder / name
    args = ["-f", "lavfi", "-i", f"sine=f=440:d={seconds}:r=44100", *codec, str(path)]
    asyncio.run(run_ffmpeg(ffmpeg, args))
    return path.read_bytes()


def flip_bytes(data: bytes, start: int, count: int = 200) -> bytes:
    return data[:start] + bytes(b ^ 0x5A for b in data[start : start + count]) + data[start + count :]


def flac_claiming_samples(data: bytes, samples: int) -> bytes:
    """Rewrite STREAMINFO's 36-bit total sample count (the low nibble of byte 13 and bytes 14-17)."""
    info = bytearray(data)
    at = 8  # "fLaC" + the metadata block header
    info[at + 13] = (info[at + 13] & 0xF0) | (samples >> 32)
    info[at + 14 : at + 18] = (samples & 0xFFFFFFFF).to_bytes(4, "big")
    return bytes(info)


def hostile_audio(ffmpeg: Path, folder: Path) -> dict[str, tuple[bytes, UploadFormat, str]]:
    mp3 = encoded_tone(ffmpeg, folder, "t.mp3", "-c:a", "libmp3lame", "-b:a", "128k")
    flac = encoded_tone(ffmpeg, folder, "t.flac")
    ogg = encoded_tone(ffmpeg, folder, "t.ogg", "-c:a", "libvorbis")
    return {
        "mp3-with-info-header-cut-in-half": (mp3[: len(mp3) // 2], MP3, r"says it lasts 3.00 s but only 1.[45]\d s"),
        "mp3-damaged-frames": (flip_bytes(mp3, len(mp3) // 2), MP3, "the MP3 audio is damaged"),
        "flac-claiming-100-s": (flac_claiming_samples(flac, 44100 * 100), FLAC, "says it lasts 100.00 s but only 3.00 s"),
        "flac-damaged-frames": (flip_bytes(flac, len(flac) // 2), FLAC, "cannot be decoded"),
        "ogg-cut-off": (ogg[: len(ogg) * 3 // 4], OGG, "damaged or cut off"),
        "ogg-bad-page-crc": (flip_bytes(ogg, len(ogg) // 2), OGG, "the OGG audio is damaged: CRC mismatch"),
    }


HOSTILE_AUDIO = ["mp3-with-info-header-cut-in-half", "mp3-damaged-frames", "flac-claiming-100-s", "flac-damaged-frames",
                 "ogg-cut-off", "ogg-bad-page-crc"]


@pytest.mark.parametrize("case", HOSTILE_AUDIO)
def test_audio_that_lies_about_its_length_or_decodes_with_errors_is_refused(tmp_path, ffmpeg, case):
    data, fmt, reason = hostile_audio(ffmpeg, tmp_path)[case]
    with pytest.raises(InvalidRequest, match=reason) as caught:
        asyncio.run(normalise_audio(ffmpeg, write(tmp_path, data), tmp_path / "out.m4a", fmt, 900))
    assert_refused_without_paths(caught, tmp_path)


def test_an_mp3_without_an_info_header_cut_mid_frame_keeps_its_whole_frames(tmp_path, ffmpeg):
    """Nothing in such a file states its length, and FFmpeg drops the torn last frame without an
    error: the upload is what the whole frames hold (documented in docs/api.md)."""
    mp3 = encoded_tone(ffmpeg, tmp_path, "cbr.mp3", "-c:a", "libmp3lame", "-b:a", "128k", "-write_xing", "0")
    facts = asyncio.run(normalise_audio(ffmpeg, write(tmp_path, mp3[: len(mp3) // 2 + 100]), tmp_path / "out.m4a", MP3, 900))
    assert facts.duration == pytest.approx(1.5, abs=0.1)


@pytest.mark.parametrize(
    ("name", "codec", "fmt"),
    [("w.wav", (), WAV), ("v.mp3", ("-c:a", "libmp3lame", "-q:a", "4"), MP3), ("f.flac", (), FLAC),
     ("o.ogg", ("-c:a", "libopus"), OGG), ("m.m4a", ("-c:a", "aac"), M4A)],
)
def test_whole_audio_of_each_format_passes(tmp_path, ffmpeg, name, codec, fmt):
    data = encoded_tone(ffmpeg, tmp_path, name, *codec, seconds=2.0)
    facts = asyncio.run(normalise_audio(ffmpeg, write(tmp_path, data), tmp_path / "out.m4a", fmt, 900))
    assert facts.duration == pytest.approx(2.0, abs=0.1)
