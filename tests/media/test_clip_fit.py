"""A generated clip shorter than its segment: hold its last frame, or play it slower."""

from __future__ import annotations

from pathlib import Path

import pytest

from story2video.media.compose import MAX_SLOWDOWN, _slowdown
from story2video.media.encoding import RenderProfile
from story2video.media.fonts import FontInfo
from story2video.providers.base import ClipFile
from tests.media.avcheck import colour_distance, frame_at, mean_colour, streams
from tests.media.test_segment import encode, make_clip, make_spec

RED, BLUE = (220, 30, 30), (40, 60, 230)


@pytest.fixture
def half_red_half_blue(ffmpeg_bin: Path, tmp_path: Path) -> Path:
    """A 1 s clip: red for 0.5 s, then blue for 0.5 s."""
    clip = tmp_path / "clip.mp4"
    red, blue = "color=c=0xDC1E1E:s=320x180:r=30:d=0.5[a]", "color=c=0x283CE6:s=320x180:r=30:d=0.5[b]"
    make_clip(ffmpeg_bin, clip, f"{red};{blue};[a][b]concat")
    return clip


@pytest.mark.parametrize(("fit", "colour_at_0_65"), [("hold", BLUE), ("slow", RED)])
def test_short_clip_is_held_or_slowed(
    ffmpeg_bin: Path, font: FontInfo, profile: RenderProfile, tmp_path: Path, half_red_half_blue: Path, fit: str, colour_at_0_65
) -> None:
    # The segment lasts 0.2 + 1.0 + 0.4 = 1.6 s. Held, the colour changes at 0.5 s; slowed 1.6x, at 0.8 s.
    spec = make_spec(tmp_path, font, narration_s=1.0, clip=ClipFile(path=half_red_half_blue, duration=1.0, fit=fit))
    dest = tmp_path / f"segment-{fit}.mp4"
    seconds = encode(ffmpeg_bin, spec, profile, dest)
    assert seconds == pytest.approx(spec.duration, abs=0.05)
    assert streams(dest).duration == pytest.approx(spec.duration, abs=0.05)
    assert colour_distance(mean_colour(frame_at(dest, 0.65)), colour_at_0_65) < 40
    assert colour_distance(mean_colour(frame_at(dest, 0.2)), RED) < 40
    assert colour_distance(mean_colour(frame_at(dest, spec.duration - 0.05)), BLUE) < 40


def test_slowdown_is_bounded_and_never_speeds_up(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    assert _slowdown(ClipFile(clip, 2.0, fit="slow"), 3.0) == pytest.approx(1.5)
    assert _slowdown(ClipFile(clip, 1.0, fit="slow"), 30.0) == MAX_SLOWDOWN
    assert _slowdown(ClipFile(clip, 5.0, fit="slow"), 3.0) == 1.0  # a longer clip is trimmed, not sped up
    assert _slowdown(ClipFile(clip, 1.0, fit="hold"), 3.0) == 1.0
