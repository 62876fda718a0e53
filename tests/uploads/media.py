"""Small media files made in memory for upload tests."""

from __future__ import annotations

import io
import math
import struct
import wave
import zlib

from PIL import Image

EXIF_ORIENTATION = 0x0112
ROTATED_90_CW = 6  # EXIF: the stored picture must be turned 90° clockwise to stand upright


def picture(fmt: str = "JPEG", size: tuple[int, int] = (320, 200), color=(200, 30, 30), **save) -> bytes:
    mode = "RGBA" if len(color) == 4 else "RGB"
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, fmt, **save)
    return buffer.getvalue()


def rotated_jpeg(size: tuple[int, int] = (320, 200)) -> bytes:
    """A landscape JPEG whose EXIF says it was shot in portrait."""
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATED_90_CW
    return picture("JPEG", size, exif=exif.tobytes())


def png_claiming(width: int, height: int) -> bytes:
    """A PNG signature and header announcing ``width`` x ``height``, with almost no pixel data."""
    whole = picture("PNG", (64, 64))
    ihdr_data = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr_data
    ihdr = struct.pack(">I", len(ihdr_data)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return whole[:8] + ihdr + whole[8 + 25 :]


def tone_wav(seconds: float = 1.0, frequency: float = 440.0, rate: int = 22050, amplitude: float = 0.5) -> bytes:
    frames = int(seconds * rate)
    samples = (int(amplitude * 32767 * math.sin(2 * math.pi * frequency * i / rate)) for i in range(frames))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return buffer.getvalue()
