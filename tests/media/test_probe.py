from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from story2video.errors import InvalidArtifact
from story2video.media.probe import aprobe, parse_probe_output, probe, wav_duration
from tests.media.avcheck import write_card, write_tone

MP4_DESCRIPTION = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'x.mp4':
  Metadata:
    major_brand     : isom
  Duration: 00:01:02.54, start: 0.000000, bitrate: 420 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, progressive), 1280x720 [SAR 1:1 DAR 16:9], 280 kb/s, 23.98 fps, 23.98 tbr, 24k tbn (default)
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, 5.1, fltp, 128 kb/s (default)
At least one output file must be specified
"""


def test_parses_an_mp4_description() -> None:
    info = parse_probe_output(MP4_DESCRIPTION, Path("x.mp4"))
    assert info.duration == pytest.approx(62.54)
    assert info.video is not None and info.audio is not None
    assert (info.video.codec, info.video.width, info.video.height) == ("h264", 1280, 720)
    assert info.video.fps == pytest.approx(23.98)
    assert (info.audio.codec, info.audio.sample_rate, info.audio.channels) == ("aac", 44100, 6)


def test_probes_a_wav(ffmpeg_bin: Path, tmp_path: Path) -> None:
    wav = write_tone(tmp_path / "tone.wav", 1.5, 440, rate=22050)
    info = probe(ffmpeg_bin, wav)
    assert info.video is None
    assert info.audio is not None
    assert (info.audio.codec, info.audio.sample_rate, info.audio.channels) == ("pcm_s16le", 22050, 1)
    assert info.duration == pytest.approx(1.5, abs=0.01)


def test_probes_a_png_without_duration(ffmpeg_bin: Path, tmp_path: Path) -> None:
    png = write_card(tmp_path / "card.png", (64, 48), (10, 20, 30))
    info = asyncio.run(aprobe(ffmpeg_bin, png))
    assert info.audio is None
    assert info.video is not None
    assert (info.video.codec, info.video.width, info.video.height) == ("png", 64, 48)


@pytest.mark.parametrize("content", [b"definitely not media\n" * 50, b""])
def test_unreadable_file_is_an_invalid_artifact(ffmpeg_bin: Path, tmp_path: Path, content: bytes) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(content)
    with pytest.raises(InvalidArtifact) as caught:
        probe(ffmpeg_bin, junk)
    assert "junk.mp4" in caught.value.message
    with pytest.raises(InvalidArtifact):
        asyncio.run(aprobe(ffmpeg_bin, junk))


def test_missing_file_is_an_invalid_artifact(ffmpeg_bin: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidArtifact) as caught:
        probe(ffmpeg_bin, tmp_path / "gone.wav")
    assert "No such file" in caught.value.message


def test_wav_duration_reads_the_header(tmp_path: Path) -> None:
    wav = write_tone(tmp_path / "tone.wav", 0.75, 300, rate=8000)
    assert wav_duration(wav) == pytest.approx(0.75)


def test_wav_duration_rejects_other_files(tmp_path: Path) -> None:
    fake = tmp_path / "fake.wav"
    fake.write_bytes(b"RIFF....not a wave")
    with pytest.raises(InvalidArtifact):
        wav_duration(fake)
