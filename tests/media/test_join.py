from __future__ import annotations

from pathlib import Path

import pytest

from story2video.errors import InvalidRequest
from story2video.media.fonts import FontInfo
from tests.media.avcheck import (
    PALETTE,
    audio_packet_digests,
    audio_samples,
    colour_distance,
    frame_at,
    frames,
    mean_colour,
    nearest_palette_index,
    onset,
    rms,
    streams,
    tone_level,
    video_packet_digests,
    write_tone,
)
from tests.media.segments import LEAD_IN, NARRATION_S, TAIL, Segments, build_segments, join

MUSIC_HZ = 1000.0

@pytest.fixture(scope="module")
def eight(ffmpeg_bin: Path, tmp_path_factory: pytest.TempPathFactory, font: FontInfo) -> Segments:
    return build_segments(ffmpeg_bin, tmp_path_factory.mktemp("eight"), font, NARRATION_S)


@pytest.fixture(scope="module")
def plain_final(eight: Segments, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("final") / "story.tmp.mp4"
    join(eight, dest)
    return dest


def test_final_lasts_the_sum_of_the_segments(eight: Segments, plain_final: Path) -> None:
    info = streams(plain_final)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert info.duration == pytest.approx(sum(eight.durations), abs=0.1)
    assert info.audio_duration == pytest.approx(info.video_duration, abs=0.03)
    for duration, narration_s in zip(eight.durations, NARRATION_S):
        assert duration == pytest.approx(LEAD_IN + narration_s + TAIL, abs=0.05)


def test_video_is_copied_not_re_encoded(eight: Segments, plain_final: Path) -> None:
    copied = [digest for path in eight.paths for digest in video_packet_digests(path)]
    assert video_packet_digests(plain_final) == copied


def test_segments_keep_their_order(eight: Segments, plain_final: Path) -> None:
    for index, (start, duration) in enumerate(zip(eight.starts(), eight.durations)):
        picture = frame_at(plain_final, start + duration / 2)
        assert nearest_palette_index(mean_colour(picture)) == index


def test_audio_is_the_soundtrack_copied(plain_final: Path) -> None:
    soundtrack = plain_final.with_name(plain_final.stem + "-soundtrack.m4a")
    assert audio_packet_digests(plain_final) == audio_packet_digests(soundtrack)


@pytest.fixture(scope="module")
def re_encoded_final(eight: Segments, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("re-encoded") / "story.mp4"
    join(eight, dest, soundtrack=False)
    return dest


@pytest.mark.parametrize("joined", ["plain_final", "re_encoded_final"])
def test_narration_stays_in_sync_with_the_pictures(eight: Segments, joined: str, request: pytest.FixtureRequest) -> None:
    final = request.getfixturevalue(joined)
    shown = frames(final)
    samples = audio_samples(final)
    for index, start in enumerate(eight.starts()):
        # when the picture switches to this segment's card ...
        switch = next(
            time for time, image in shown if time >= start - 0.2 and nearest_palette_index(mean_colour(image)) == index
        )
        assert switch == pytest.approx(start, abs=0.01)
        # ... its narration starts one lead-in later (a drift of one AAC frame would be 21 ms)
        assert onset(samples, switch + 0.05, threshold=8000) == pytest.approx(switch + LEAD_IN, abs=0.01)
        middle = switch + LEAD_IN + NARRATION_S[index] / 2
        assert tone_level(samples, middle - 0.1, middle + 0.1, eight.tones[index]) > 8000


def test_crossfade_overlaps_neighbours(eight: Segments, tmp_path: Path) -> None:
    crossfade = 0.5
    dest = tmp_path / "crossfaded.mp4"
    seconds = join(eight, dest, crossfade=crossfade)
    expected = sum(eight.durations) - (len(eight.durations) - 1) * crossfade
    assert seconds == pytest.approx(expected, abs=0.1)
    assert streams(dest).duration == pytest.approx(expected, abs=0.1)
    starts = eight.starts(crossfade)
    for index in (1, 5):  # halfway through the dissolve into segment `index`, both cards show
        blend = mean_colour(frame_at(dest, starts[index] + crossfade / 2))
        halfway = tuple((a + b) / 2 for a, b in zip(PALETTE[index - 1], PALETTE[index]))
        assert colour_distance(blend, halfway) < 40
        settled = mean_colour(frame_at(dest, starts[index] + crossfade + 0.1))
        assert nearest_palette_index(settled) == index


def test_crossfade_longer_than_a_segment_is_refused(eight: Segments, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest) as refused:
        join(eight, tmp_path / "never.mp4", crossfade=eight.durations[0] + 0.5)
    assert refused.value.param == "crossfade"


# ------------------------------------------------------------------ music


@pytest.fixture(scope="module")
def spaced(ffmpeg_bin: Path, tmp_path_factory: pytest.TempPathFactory, font: FontInfo) -> Segments:
    """Three segments with long silent tails, so the music can recover between narrations."""
    return build_segments(ffmpeg_bin, tmp_path_factory.mktemp("spaced"), font, [1.0, 1.0, 1.0], tail=1.5)


@pytest.fixture(scope="module")
def spaced_plain(spaced: Segments, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("spaced-final") / "plain.mp4"
    join(spaced, dest)
    return dest


def gap_window(segments: Segments) -> tuple[float, float]:
    """Inside segment 0's tail, 0.8 s after its narration ended."""
    narration_end = LEAD_IN + 1.0
    return narration_end + 0.8, narration_end + 1.4


def speech_window(segments: Segments) -> tuple[float, float]:
    """The middle of segment 1's narration."""
    start = segments.starts()[1] + LEAD_IN
    return start + 0.3, start + 0.8


def test_music_file_plays_under_the_narration_and_ducks(spaced: Segments, spaced_plain: Path, tmp_path: Path) -> None:
    music = write_tone(tmp_path / "music.wav", 2.0, MUSIC_HZ, rate=44100, amplitude=0.8)  # shorter: must loop
    dest = tmp_path / "with-music.mp4"
    seconds = join(spaced, dest, music=music)
    assert seconds == pytest.approx(sum(spaced.durations), abs=0.1)
    with_music, without = audio_samples(dest), audio_samples(spaced_plain)
    gap, speech = gap_window(spaced), speech_window(spaced)
    assert rms(with_music, *gap) > 10 * max(rms(without, *gap), 1.0)
    music_in_gap = tone_level(with_music, *gap, MUSIC_HZ)
    music_under_speech = tone_level(with_music, *speech, MUSIC_HZ)
    assert music_in_gap > 300  # about -18 dB below the file's level, not silent
    assert music_under_speech < music_in_gap / 2  # ducked by more than 6 dB
    voice = spaced.tones[1]
    assert tone_level(with_music, *speech, voice) == pytest.approx(tone_level(without, *speech, voice), rel=0.1)


def test_generated_music_fills_the_gaps(spaced: Segments, spaced_plain: Path, tmp_path: Path) -> None:
    dest = tmp_path / "with-pad.mp4"
    seconds = join(spaced, dest, generated_music=True)
    assert seconds == pytest.approx(sum(spaced.durations), abs=0.1)
    gap = gap_window(spaced)
    with_pad, without = audio_samples(dest), audio_samples(spaced_plain)
    assert rms(with_pad, *gap) > 200
    assert rms(with_pad, *gap) > 10 * max(rms(without, *gap), 1.0)
    last = sum(spaced.durations)
    assert rms(with_pad, last - 0.1, last) < rms(with_pad, *gap) / 4  # faded out at the end


def test_crossfade_with_music(spaced: Segments, tmp_path: Path) -> None:
    crossfade = 0.25
    dest = tmp_path / "both.mp4"
    seconds = join(spaced, dest, crossfade=crossfade, generated_music=True)
    expected = sum(spaced.durations) - 2 * crossfade
    assert seconds == pytest.approx(expected, abs=0.1)
    info = streams(dest)
    assert info.duration == pytest.approx(expected, abs=0.1)
    assert info.audio_duration == pytest.approx(info.video_duration, abs=0.03)
    assert rms(audio_samples(dest), *gap_window(spaced)) > 200
