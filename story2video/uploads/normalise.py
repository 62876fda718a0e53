"""Turn an accepted upload into the one file the pipeline uses, decoding all of it on the way.

Pictures become an upright RGB PNG (EXIF orientation applied; metadata, extra frames and anything
appended after the image are dropped). Audio becomes stereo 48 kHz AAC in an M4A, decoded with the
format's own demuxer and FFmpeg allowed to open local files only. A file that does not decode to
the end is refused: nothing half-read is ever stored.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from story2video.errors import InvalidRequest, MediaError, PayloadTooLarge
from story2video.media.ffmpeg import run_ffmpeg, stderr_tail
from story2video.media.probe import aprobe
from story2video.uploads.formats import UploadFormat

MIN_PICTURE_SIDE = 64
AUDIO_RATE = 48000
AUDIO_BITRATE = "192k"
AUDIO_TIMEOUT_S = 300.0
STORED_EXTENSION = {"image": "png", "audio": "m4a"}


@dataclass(frozen=True)
class MediaFacts:
    width: int | None = None
    height: int | None = None
    duration: float | None = None


def normalise_picture(source: Path, dest: Path, fmt: UploadFormat, max_pixels: int) -> MediaFacts:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=[fmt.decoder]) as image:
                _check_picture_size(image.size, max_pixels)
                image.load()
                upright = ImageOps.exif_transpose(image)
        picture = _flatten(upright)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise PayloadTooLarge(f"the picture has more than {max_pixels} pixels (MAX_UPLOAD_PIXELS)", param="file") from error
    except UnidentifiedImageError as error:
        raise InvalidRequest(f"the file starts like {fmt.name.upper()} but is not a readable picture", param="file", code="invalid_upload") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise InvalidRequest(f"the {fmt.name.upper()} picture is damaged or cut off: {error}", param="file", code="invalid_upload") from error
    picture.save(dest, "PNG")
    return MediaFacts(width=picture.width, height=picture.height)


def _check_picture_size(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise PayloadTooLarge(f"the picture is {width}x{height}, more than {max_pixels} pixels (MAX_UPLOAD_PIXELS)", param="file")
    if min(width, height) < MIN_PICTURE_SIDE:
        raise InvalidRequest(f"the picture is {width}x{height}; each side must be at least {MIN_PICTURE_SIDE} pixels", param="file", code="invalid_upload")


def _flatten(image: Image.Image) -> Image.Image:
    """RGB, with any transparency laid over black (keyframes have no alpha)."""
    if image.mode in ("RGBA", "LA", "P", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def fit_picture(source: Path, dest: Path, width: int, height: int) -> None:
    """A normalised picture scaled to cover ``width`` x ``height``, centred, the overflow cut off."""
    with Image.open(source, formats=["PNG"]) as picture:
        ImageOps.fit(picture.convert("RGB"), (width, height), Image.Resampling.LANCZOS).save(dest, "PNG")


async def normalise_audio(ffmpeg: Path, source: Path, dest: Path, fmt: UploadFormat, max_seconds: float) -> MediaFacts:
    args = [
        "-protocol_whitelist", "file",
        "-f", fmt.decoder,
        "-xerror",
        "-i", str(source),
        "-map", "0:a:0",
        "-t", f"{max_seconds + 1:.3f}",
        "-vn", "-sn", "-dn", "-map_metadata", "-1",
        "-ac", "2", "-ar", str(AUDIO_RATE), "-c:a", "aac", "-b:a", AUDIO_BITRATE,
        "-f", "ipod", str(dest),
    ]  # fmt: skip
    try:
        await run_ffmpeg(ffmpeg, args, timeout=AUDIO_TIMEOUT_S)
    except MediaError as error:
        raise InvalidRequest(f"the {fmt.name.upper()} audio cannot be decoded: {stderr_tail(error.message.splitlines(), 1)}", param="file", code="invalid_upload") from error
    info = await aprobe(ffmpeg, dest)
    if info.audio is None or info.duration <= 0:
        raise InvalidRequest(f"the {fmt.name.upper()} file holds no audio", param="file", code="invalid_upload")
    if info.duration > max_seconds:
        raise InvalidRequest(f"the audio is longer than {max_seconds:g} s (MAX_UPLOAD_AUDIO_S)", param="file", code="invalid_upload")
    return MediaFacts(duration=info.duration)

