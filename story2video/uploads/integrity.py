"""Does a file hold everything its own headers announce? The part of "decoded to the end" that the
decoders let slide.

Pillow's PNG decoder stops quietly when the compressed pixel stream ends early (a 6000x6000 header
over three rows of pixels decodes to a 6000x6000 picture) and never checks the IDAT checksums;
libjpeg draws whatever scans a progressive JPEG has, however few. FFmpeg's WAV demuxer trusts a
``data`` size past the end of the file (older builds exit 0 after it), and its Ogg demuxer drops
a last page that was cut off. Each check reads the container's structure only; the decoders do
the rest. ``Incomplete`` carries a reason fit for the caller (no path, no file name).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

_PIECE = 1 << 16


class Incomplete(ValueError):
    """The file is damaged or cut off; the message says how."""


def check_whole(path: Path, format_name: str) -> None:
    """Raise Incomplete unless the file of this format (``UploadFormat.name``) is whole."""
    check = _CHECKS.get(format_name)
    if check is not None:
        with path.open("rb") as file:
            check(file)


# ---------------------------------------------------------------- PNG

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_MAX_CHUNK = 2**31 - 1


def _check_png(file: BinaryIO) -> None:
    """Every chunk up to IEND present with a right CRC, and the IDAT stream inflating to exactly
    the bytes the header's size, depth, colour type and interlacing call for."""
    if file.read(8) != _PNG_SIGNATURE:
        raise Incomplete("it does not start with the PNG signature")
    pixels: _PixelStream | None = None
    while True:
        head = file.read(8)
        if len(head) < 8:
            raise Incomplete("the file ends before its IEND chunk")
        length, kind = struct.unpack(">I4s", head)
        if length > _MAX_CHUNK:
            raise Incomplete(f"a {_chunk_name(kind)} chunk claims {length} bytes")
        if kind == b"IHDR":
            header = file.read(length) if length == 13 else b""
            if len(header) != 13:
                raise Incomplete("its IHDR chunk is cut off or not 13 bytes long")
            crc = zlib.crc32(kind + header)
            pixels = _PixelStream(_png_pixel_bytes(header))
        elif kind == b"IDAT":
            if pixels is None:
                raise Incomplete("its pixel data comes before its IHDR chunk")
            crc = _read_chunk(file, length, zlib.crc32(kind), pixels.feed)
        else:
            crc = _read_chunk(file, length, zlib.crc32(kind), None)
        stored = file.read(4)
        if len(stored) < 4:
            raise Incomplete(f"the file ends inside its {_chunk_name(kind)} chunk")
        if struct.unpack(">I", stored)[0] != crc:
            raise Incomplete(f"the {_chunk_name(kind)} chunk's CRC does not match its contents")
        if kind == b"IEND":
            break
    if pixels is None:
        raise Incomplete("it has no IHDR chunk")
    pixels.finish()


class _PixelStream:
    """Inflates the IDAT data without keeping it, counting the bytes against what the header calls for."""

    def __init__(self, expected: int):
        self.expected = expected
        self._inflater = zlib.decompressobj()
        self._produced = 0

    def feed(self, data: bytes) -> None:
        try:
            while data and not self._inflater.eof:
                self._produced += len(self._inflater.decompress(data, _PIECE))
                if self._produced > self.expected:
                    raise Incomplete("its compressed pixel data holds more rows than its header announces")
                data = self._inflater.unconsumed_tail
        except zlib.error as error:
            raise Incomplete(f"its compressed pixel data is damaged ({error})") from error

    def finish(self) -> None:
        if not self._inflater.eof or self._produced < self.expected:
            share = self._produced / self.expected if self.expected else 0.0
            raise Incomplete(f"its pixel data stops after {share:.1%} of the picture its header announces")


def _png_pixel_bytes(ihdr: bytes) -> int:
    """How many bytes the pixel stream of this IHDR inflates to (each row's filter byte included)."""
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", ihdr)
    if colour not in _PNG_CHANNELS or depth not in (1, 2, 4, 8, 16) or interlace not in (0, 1):
        raise Incomplete("its IHDR chunk names an impossible pixel format")
    bits = _PNG_CHANNELS[colour] * depth

    def rows(columns: int, count: int) -> int:
        return count * (1 + (columns * bits + 7) // 8) if columns > 0 and count > 0 else 0

    if interlace == 0:
        return rows(width, height)
    return sum(rows(-(-(width - x) // dx), -(-(height - y) // dy)) for x, y, dx, dy in _ADAM7)


def _chunk_name(kind: bytes) -> str:
    return kind.decode("latin-1") if kind.isalpha() else repr(kind)


def _read_chunk(file: BinaryIO, length: int, crc: int, sink: Callable[[bytes], None] | None) -> int:
    """Read ``length`` bytes in pieces, each into the CRC and ``sink``; the CRC."""
    left = length
    while left:
        piece = file.read(min(left, _PIECE))
        if not piece:
            raise Incomplete("the file ends inside a chunk")
        crc = zlib.crc32(piece, crc)
        if sink is not None:
            sink(piece)
        left -= len(piece)
    return crc


# ---------------------------------------------------------------- JPEG

_SOF_SEQUENTIAL = (0xC0, 0xC1)
_SOF_PROGRESSIVE = 0xC2
_SOF_OTHER = (0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RST0-7: no length field
_SOS, _EOI = 0xDA, 0xD9


def _check_jpeg(file: BinaryIO) -> None:
    """Markers well formed up to EOI, and the scans covering every component (a progressive JPEG:
    every coefficient down to its last bit). A scan that stops early is FFmpeg's to find."""
    data = file.read()
    if not data.startswith(b"\xff\xd8"):
        raise Incomplete("it does not start with a JPEG SOI marker")
    coverage: _ScanCoverage | None = None
    position = 2
    while True:
        marker, position = _next_marker(data, position)
        if marker == _EOI:
            break
        if marker in _STANDALONE:
            continue
        if position + 2 > len(data):
            raise Incomplete("the file ends inside a marker segment")
        length = struct.unpack(">H", data[position : position + 2])[0]
        segment = data[position + 2 : position + length]
        if length < 2 or len(segment) < length - 2:
            raise Incomplete("the file ends inside a marker segment")
        position += length
        if marker in _SOF_SEQUENTIAL or marker == _SOF_PROGRESSIVE:
            coverage = _ScanCoverage(segment, progressive=marker == _SOF_PROGRESSIVE)
        elif marker in _SOF_OTHER:
            coverage = None  # lossless, hierarchical, arithmetic: left to the decoder
        elif marker == _SOS:
            if coverage is not None:
                coverage.add(segment)
            position = _end_of_entropy_data(data, position)
    if coverage is not None:
        coverage.check()


def _next_marker(data: bytes, position: int) -> tuple[int, int]:
    """The marker at ``position`` (fill bytes skipped) and the position after it."""
    if position >= len(data):
        raise Incomplete("the file ends before its EOI marker")
    if data[position] != 0xFF:
        raise Incomplete("it holds bytes where a JPEG marker should be")
    while position < len(data) and data[position] == 0xFF:
        position += 1
    if position >= len(data):
        raise Incomplete("the file ends before its EOI marker")
    return data[position], position + 1


def _end_of_entropy_data(data: bytes, position: int) -> int:
    """Where the scan's coded data ends: the first 0xFF that is neither stuffing nor a restart marker."""
    while True:
        position = data.find(b"\xff", position)
        if position < 0 or position + 1 >= len(data):
            raise Incomplete("the file ends inside a scan")
        following = data[position + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            position += 1 if following == 0xFF else 2
            continue
        return position


class _ScanCoverage:
    """Which components (and, when progressive, which coefficient bits) the scans so far coded."""

    def __init__(self, frame: bytes, progressive: bool):
        if len(frame) < 6:
            raise Incomplete("its frame header is too short")
        count = frame[5]
        if len(frame) < 6 + 3 * count:
            raise Incomplete("its frame header is too short")
        self.progressive = progressive
        # component id -> per coefficient: the lowest bit position coded so far (None: not yet)
        self.bits: dict[int, list[int | None]] = {frame[6 + 3 * i]: [None] * 64 for i in range(count)}

    def add(self, scan: bytes) -> None:
        count = scan[0] if scan else 0
        if len(scan) < 1 + 2 * count + 3:
            raise Incomplete("a scan header is too short")
        start, end, approximation = scan[1 + 2 * count : 4 + 2 * count]
        low_bit = approximation & 0x0F if self.progressive else 0
        first, last = (start, end) if self.progressive else (0, 63)
        for i in range(count):
            bits = self.bits.get(scan[1 + 2 * i])
            if bits is None:
                raise Incomplete("a scan names a component the frame does not have")
            for k in range(first, min(last, 63) + 1):
                if bits[k] is None or low_bit < bits[k]:
                    bits[k] = low_bit

    def check(self) -> None:
        for bits in self.bits.values():
            if any(bit != 0 for bit in bits):
                raise Incomplete("its scans stop before the picture is complete")


# ---------------------------------------------------------------- WAV


def _check_wav(file: BinaryIO) -> None:
    """The ``data`` chunk holds no more than the file has left after its header."""
    file.seek(0, 2)
    size = file.tell()
    file.seek(12)  # RIFF, its size, WAVE
    while True:
        head = file.read(8)
        if len(head) < 8:
            raise Incomplete("the file ends before its data chunk")
        kind, length = struct.unpack("<4sI", head)
        if kind == b"data":
            left = size - file.tell()
            if length > left:
                raise Incomplete(f"its header claims {length} bytes of audio but the file holds {left}")
            return
        file.seek(length + (length & 1), 1)


# ---------------------------------------------------------------- Ogg

_OGG_HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, flags, granule, serial, sequence, CRC, segments
_OGG_END_OF_STREAM = 0x04


def _check_ogg(file: BinaryIO) -> None:
    """Pages whole to the end of the file, and each logical stream closed by its end-of-stream page.
    (A page's CRC FFmpeg checks itself.)"""
    open_streams: set[int] = set()
    while True:
        head = file.read(_OGG_HEADER.size)
        if not head:
            break
        if head[:4] != b"OggS":
            raise Incomplete("it holds bytes where an Ogg page should be")
        if len(head) < _OGG_HEADER.size:
            raise Incomplete("its last page is cut off")
        _, _, flags, _, serial, _, _, segments = _OGG_HEADER.unpack(head)
        table = file.read(segments)
        body = sum(table)
        if len(table) < segments or len(file.read(body)) < body:
            raise Incomplete("its last page is cut off")
        open_streams.add(serial)
        if flags & _OGG_END_OF_STREAM:
            open_streams.discard(serial)
    if open_streams:
        raise Incomplete("it ends without an end-of-stream page: the file was cut off")


_CHECKS: dict[str, Callable[[BinaryIO], None]] = {"png": _check_png, "jpeg": _check_jpeg, "wav": _check_wav, "ogg": _check_ogg}
