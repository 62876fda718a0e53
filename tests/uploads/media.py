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


# ---------------------------------------------------------------- hostile files: headers that promise more than the file holds


def png_chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) if crc is None else crc)


def png_of_rows(width: int, height: int, rows: bytes, interlace: int = 0) -> bytes:
    """An RGB PNG whose IDAT holds ``rows`` (filter bytes included), compressed, with IEND."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, interlace)
    idat = zlib.compress(rows, 9)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def solid_rows(width: int, count: int, color=(128, 64, 32)) -> bytes:
    return (b"\x00" + bytes(color) * width) * count


def cut_off_png(width: int = 6000, height: int = 6000, rows: int = 3) -> bytes:
    """A PNG announcing ``width`` x ``height`` whose pixel stream ends, cleanly, after ``rows`` rows
    (a solid colour compresses to a few hundred bytes even at 6000 x 6000)."""
    return png_of_rows(width, height, solid_rows(width, rows))


ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def interlaced_rows(width: int, height: int, passes: int = 7) -> bytes:
    """The pixel stream of the first ``passes`` Adam7 passes of a solid picture."""
    rows = b""
    for x0, y0, dx, dy in ADAM7[:passes]:
        columns, count = len(range(x0, width, dx)), len(range(y0, height, dy))
        if columns and count:
            rows += solid_rows(columns, count)
    return rows


def interlaced_png(width: int, height: int) -> bytes:
    """A whole Adam7-interlaced PNG (Pillow cannot write one)."""
    return png_of_rows(width, height, interlaced_rows(width, height), interlace=1)


def png_with_bad_idat_crc() -> bytes:
    whole = picture("PNG", (80, 80))
    at = whole.index(b"IDAT")
    length = struct.unpack(">I", whole[at - 4 : at])[0]
    crc_at = at + 4 + length
    return whole[:crc_at] + bytes(b ^ 0xFF for b in whole[crc_at : crc_at + 4]) + whole[crc_at + 4 :]


def noisy_jpeg(size: tuple[int, int] = (320, 240), **save) -> bytes:
    """A JPEG with real detail, so its scans are long enough to cut in the middle."""
    buffer = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(buffer, "JPEG", quality=90, **save)
    return buffer.getvalue()


def jpeg_scan_starts(data: bytes) -> list[int]:
    return [at for at in range(len(data) - 1) if data[at] == 0xFF and data[at + 1] == 0xDA]


def jpeg_cut_mid_scan(with_eoi: bool = False) -> bytes:
    """A JPEG cut half-way through its scan; ``with_eoi``: an EOI marker put after the cut, which
    libjpeg takes as a premature end and paints the rest grey."""
    whole = noisy_jpeg()
    scan = jpeg_scan_starts(whole)[0]
    cut = whole[: scan + (len(whole) - scan) // 2]
    return cut + b"\xff\xd9" if with_eoi else cut


def progressive_jpeg_missing_scans(kept: int = 3) -> bytes:
    """A progressive JPEG with only its first ``kept`` scans, closed with EOI at a scan boundary."""
    whole = noisy_jpeg(progressive=True)
    return whole[: jpeg_scan_starts(whole)[kept]] + b"\xff\xd9"


def wav_claiming(data_bytes: int = 0xFFFFFFF0, seconds: float = 0.5) -> bytes:
    """A real WAV whose header says its data chunk holds ``data_bytes`` bytes."""
    wav = bytearray(tone_wav(seconds))
    at = wav.index(b"data")
    wav[at + 4 : at + 8] = struct.pack("<I", data_bytes)
    wav[4:8] = struct.pack("<I", min(0xFFFFFFFF, data_bytes + at - 4))
    return bytes(wav)
