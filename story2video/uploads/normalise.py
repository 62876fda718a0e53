"""Turn an accepted upload into the one file the pipeline uses, decoding all of it on the way.

Pictures become an upright RGB PNG (EXIF orientation applied; metadata, extra frames and anything
appended after the image are dropped). Audio becomes stereo 48 kHz AAC in an M4A, decoded with the
format's own demuxer and FFmpeg allowed to open local files only. A file that does not decode to
the end is refused, and so is one whose own header promises more than it holds (``integrity``),
or that FFmpeg decodes with errors: nothing half-read is ever stored. Refusals never name a path
or a temp file.
"""

from __future__ import annotations

import asyncio
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from story2video.errors import InvalidArtifact, InvalidRequest, MediaError, PayloadTooLarge, without_paths
from story2video.media.ffmpeg import run_ffmpeg, stderr_text
from story2video.media.probe import MediaInfo, aprobe
from story2video.uploads.formats import UploadFormat
from story2video.uploads.integrity import Incomplete, check_whole

MIN_PICTURE_SIDE = 64
AUDIO_RATE = 48000
AUDIO_BITRATE = "192k"
AUDIO_TIMEOUT_S = 300.0
PICTURE_CHECK_TIMEOUT_S = 120.0
STORED_EXTENSION = {"image": "png", "audio": "m4a"}
# FFmpeg may conceal nothing: every error it detects (CRCs included) fails the decode, and each is
# logged tagged "[error]" so that one it recovered from is still seen.
_STRICT = ["-err_detect", "crccheck+bitstream+buffer+explode", "-xerror"]
_LOG_ONLY_ERRORS = "level+error"
_ERROR_TAGS = ("[error] ", "[fatal] ", "[panic] ")
# Formats whose header states the audio's length on its own (an M4A's duration is its longest
# track, which may be a video track), and how far the decoded length may fall short of it.
_LENGTH_IN_HEADER = frozenset({"wav", "mp3", "flac", "ogg"})
_LENGTH_SLACK_S = 0.25
_LENGTH_SLACK_SHARE = 0.01


@dataclass(frozen=True)
class MediaFacts:
    width: int | None = None
    height: int | None = None
    duration: float | None = None


async def normalise_image(ffmpeg: Path, source: Path, dest: Path, fmt: UploadFormat, max_pixels: int) -> MediaFacts:
    """``normalise_picture`` off the event loop, then FFmpeg's strict decode where the format has one."""
    facts = await asyncio.to_thread(normalise_picture, source, dest, fmt, max_pixels)
    if fmt.strict_decoder:
        args = [
            "-protocol_whitelist", "file", "-f", fmt.strict_decoder, *_STRICT, "-i", str(source),
            "-frames:v", "1", "-f", "null", "-",
        ]  # fmt: skip
        await _decode_strictly(ffmpeg, args, fmt, "picture", PICTURE_CHECK_TIMEOUT_S)
    return facts


def normalise_picture(source: Path, dest: Path, fmt: UploadFormat, max_pixels: int) -> MediaFacts:
    """Size checked first, then the file checked whole, then decoded into an upright RGB PNG at ``dest``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=[fmt.decoder]) as image:
                _check_picture_size(image.size, max_pixels)
                check_whole(source, fmt.name)
                image.load()
                upright = ImageOps.exif_transpose(image)
        picture = _flatten(upright)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise PayloadTooLarge(f"the picture has more than {max_pixels} pixels (MAX_UPLOAD_PIXELS)", param="file") from error
    except UnidentifiedImageError as error:
        raise _refused(f"the file starts like {fmt.name.upper()} but is not a readable picture") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise _refused(f"the {fmt.name.upper()} picture is damaged or cut off: {without_paths(str(error))}") from error
    picture.save(dest, "PNG")
    return MediaFacts(width=picture.width, height=picture.height)


def _check_picture_size(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise PayloadTooLarge(f"the picture is {width}x{height}, more than {max_pixels} pixels (MAX_UPLOAD_PIXELS)", param="file")
    if min(width, height) < MIN_PICTURE_SIDE:
        raise _refused(f"the picture is {width}x{height}; each side must be at least {MIN_PICTURE_SIDE} pixels")


def _flatten(image: Image.Image) -> Image.Image:
    """RGB, with any transparency laid over black (keyframes have no alpha)."""
    if image.mode in ("RGBA", "LA", "P", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


async def normalise_audio(ffmpeg: Path, source: Path, dest: Path, fmt: UploadFormat, max_seconds: float) -> MediaFacts:
    try:
        await asyncio.to_thread(check_whole, source, fmt.name)
    except Incomplete as error:
        raise _refused(f"the {fmt.name.upper()} audio is damaged or cut off: {error}") from error
    args = [
        "-protocol_whitelist", "file",
        "-f", fmt.decoder,
        *_STRICT,
        "-i", str(source),
        "-map", "0:a:0",
        "-t", f"{max_seconds + 1:.3f}",
        "-vn", "-sn", "-dn", "-map_metadata", "-1",
        "-ac", "2", "-ar", str(AUDIO_RATE), "-c:a", "aac", "-b:a", AUDIO_BITRATE,
        "-f", "ipod", str(dest),
    ]  # fmt: skip
    await _decode_strictly(ffmpeg, args, fmt, "audio", AUDIO_TIMEOUT_S)
    info = await _probe(ffmpeg, dest, fmt)
    if info.audio is None or info.duration <= 0:
        raise _refused(f"the {fmt.name.upper()} file holds no audio")
    if info.duration <= max_seconds and fmt.name in _LENGTH_IN_HEADER:
        _check_stated_length(await _probe(ffmpeg, source, fmt, input_format=fmt.decoder), info.duration, fmt)
    if info.duration > max_seconds:
        raise _refused(f"the audio is longer than {max_seconds:g} s (MAX_UPLOAD_AUDIO_S)")
    return MediaFacts(duration=info.duration)


async def _decode_strictly(ffmpeg: Path, args: list[str], fmt: UploadFormat, what: str, timeout: float) -> None:
    """Run FFmpeg; refuse the upload if it fails or logs any error on the way."""
    try:
        lines = await run_ffmpeg(ffmpeg, args, timeout=timeout, loglevel=_LOG_ONLY_ERRORS)
    except MediaError as error:
        lines = error.message.splitlines()[1:] or [error.message]
        raise _refused(f"the {fmt.name.upper()} {what} cannot be decoded: {_first_error(lines)}") from error
    if any(_error_text(line) for line in lines):
        raise _refused(f"the {fmt.name.upper()} {what} is damaged: {_first_error(lines)}")


def _first_error(lines: list[str]) -> str:
    """The first error FFmpeg logged (the cause; later ones are its consequences), else its last line."""
    errors = [text for text in map(_error_text, lines) if text]
    if errors:
        return errors[0]
    texts = [text for text in map(stderr_text, lines) if text]
    return texts[-1] if texts else "no reason given"


def _error_text(line: str) -> str:
    text = stderr_text(line)
    for tag in _ERROR_TAGS:
        if text.startswith(tag):
            return text.removeprefix(tag).strip() or "an error without a message"
    return ""


async def _probe(ffmpeg: Path, path: Path, fmt: UploadFormat, input_format: str = "") -> MediaInfo:
    try:
        return await aprobe(ffmpeg, path, input_format=input_format)
    except InvalidArtifact as error:
        raise _refused(f"the {fmt.name.upper()} audio cannot be decoded") from error


def _check_stated_length(stated: MediaInfo, decoded: float, fmt: UploadFormat) -> None:
    """Refuse a file whose header promises more audio than decodes (cut off, or a header that lies)."""
    if stated.duration_estimated:
        return  # nothing in the file states a length: FFmpeg guessed it from the size
    if stated.duration - decoded > max(_LENGTH_SLACK_S, _LENGTH_SLACK_SHARE * stated.duration):
        raise _refused(
            f"the {fmt.name.upper()} file says it lasts {stated.duration:.2f} s but only {decoded:.2f} s of audio "
            "decode: it is cut off or its header is wrong"
        )


def _refused(message: str) -> InvalidRequest:
    return InvalidRequest(message, param="file", code="invalid_upload")
