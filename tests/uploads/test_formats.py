"""The first bytes decide an upload's format; nothing else is accepted."""

from __future__ import annotations

import pytest

from story2video.uploads.formats import sniff_format
from tests.uploads.media import picture, tone_wav


@pytest.mark.parametrize(
    ("head", "name", "kind"),
    [
        (picture("PNG"), "png", "image"),
        (picture("JPEG"), "jpeg", "image"),
        (picture("WEBP"), "webp", "image"),
        (tone_wav(0.1), "wav", "audio"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "mp3", "audio"),
        (b"\xff\xfb\x90\x64\x00", "mp3", "audio"),
        (b"fLaC\x00\x00\x00\x22", "flac", "audio"),
        (b"OggS\x00\x02\x00\x00", "ogg", "audio"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "m4a", "audio"),
    ],
)
def test_accepted_formats_are_told_by_their_first_bytes(head, name, kind):
    fmt = sniff_format(head[:16])
    assert fmt is not None and (fmt.name, fmt.kind) == (name, kind)


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"#EXTM3U\nhttp://169.254.169.254/latest",  # a playlist FFmpeg would follow
        b"<svg xmlns='http://www.w3.org/2000/svg'>",
        b"GIF89a\x01\x00\x01\x00",
        b"%PDF-1.7\n",
        b"--boundary\r\nContent-Disposition: form-data",
        b"\xff\xf1\x50\x80",  # ADTS AAC: MPEG sync bits, but the reserved layer
        b"RIFF\x00\x00\x00\x00AVI LIST",
        '{"user_id": "u-001"}'.encode(),
    ],
)
def test_everything_else_is_refused(head):
    assert sniff_format(head[:16]) is None
