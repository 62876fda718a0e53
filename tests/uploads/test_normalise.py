"""Uploads are decoded in full into the one file the pipeline uses; damaged or oversized ones are refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PIL import Image

from story2video.errors import InvalidRequest, PayloadTooLarge
from story2video.media.ffmpeg import locate_ffmpeg, run_ffmpeg
from story2video.media.probe import probe
from story2video.uploads.formats import FLAC, JPEG, M4A, PNG, WAV, WEBP
from story2video.uploads.normalise import fit_picture, normalise_audio, normalise_picture
from tests.uploads.media import picture, png_claiming, rotated_jpeg, tone_wav

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


def test_fit_covers_the_frame_and_crops_the_overflow(tmp_path):
    source = tmp_path / "wide.png"
    image = Image.new("RGB", (400, 100), (0, 0, 255))
    image.paste((255, 0, 0), (150, 0, 250, 100))  # red in the middle square, blue on both sides
    image.save(source)
    dest = tmp_path / "fit.png"
    fit_picture(source, dest, 100, 100)
    with Image.open(dest) as fitted:
        assert fitted.size == (100, 100)
        for x in (1, 50, 98):  # the blue sides were cut off, not squeezed in
            assert fitted.getpixel((x, 50)) == (255, 0, 0)


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
