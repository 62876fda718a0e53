"""Which files an upload may be, told by their first bytes (never by a client's Content-Type).

Each accepted format names the one decoder that may open it, so a file is never handed to a
decoder that guesses (FFmpeg, for one, would follow the URLs in a playlist). Where that decoder
hides damage, a second, strict decode by FFmpeg with a forced demuxer checks the file once more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SNIFF_BYTES = 16

UploadKind = Literal["image", "audio"]


@dataclass(frozen=True)
class UploadFormat:
    name: str
    kind: UploadKind
    decoder: str  # Pillow's format name for images, FFmpeg's demuxer for audio
    # FFmpeg's demuxer for a strict second decode of a picture whose decoder conceals damage:
    # libjpeg (in Pillow) paints grey over a scan that an early EOI marker cut short.
    strict_decoder: str = ""


PNG = UploadFormat("png", "image", "PNG")
JPEG = UploadFormat("jpeg", "image", "JPEG", strict_decoder="jpeg_pipe")
WEBP = UploadFormat("webp", "image", "WEBP")
WAV = UploadFormat("wav", "audio", "wav")
MP3 = UploadFormat("mp3", "audio", "mp3")
FLAC = UploadFormat("flac", "audio", "flac")
OGG = UploadFormat("ogg", "audio", "ogg")
M4A = UploadFormat("m4a", "audio", "mov")

ACCEPTED = (PNG, JPEG, WEBP, WAV, MP3, FLAC, OGG, M4A)
ACCEPTED_NAMES = ", ".join(fmt.name.upper() for fmt in ACCEPTED)


def sniff_format(head: bytes) -> UploadFormat | None:
    """The accepted format ``head`` (the file's first SNIFF_BYTES bytes) starts like, else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head.startswith(b"fLaC"):
        return FLAC
    if head.startswith(b"OggS"):
        return OGG
    if head[4:8] == b"ftyp":
        return M4A
    if head.startswith(b"ID3") or _is_mpeg_audio_frame(head):
        return MP3
    return None


def _is_mpeg_audio_frame(head: bytes) -> bool:
    """An MPEG audio frame header: 11 sync bits, then a layer that is not 'reserved'."""
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06 != 0
