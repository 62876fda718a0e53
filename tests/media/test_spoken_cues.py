"""Cues timed by the words a speech backend reported, and how the speaker is shown in ASS and SRT."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from story2video.media.fonts import FontInfo
from story2video.media.subtitles import Cue, SubtitleFrame, split_narration, split_spoken, write_ass, write_srt

LONG_ENGLISH = (
    "Mrs. Smith found the great old house at the end of the lane. Dr. Brown said it had been empty for years, "
    "and Mr. Lee agreed. She pushed open the door and saw dust, cobwebs and a grand piano."
)
CHINESE = "清晨，小镇的钟声响起，少女林夏推开木窗，望见远山上的薄雾。她背起画板，沿着青石小路走向河边！"


def uneven_words(text: str) -> list[tuple[str, float, float]]:
    """Words as a backend might time them: each twice as long as the one before it, so cue times
    spread by character count would be far off."""
    tokens = re.findall(r"[\u3400-\u9fff]|[A-Za-z']+\.?", text)
    words, clock = [], 1.0
    for index, token in enumerate(tokens):
        length = 0.1 * (1 + index % 4)
        words.append((token.rstrip("."), round(clock, 3), round(clock + length, 3)))
        clock += length + 0.05
    return words


@pytest.mark.parametrize("text", [LONG_ENGLISH, CHINESE])
def test_each_cue_starts_on_its_first_word_and_ends_on_the_next_cues_start(font: FontInfo, text: str) -> None:
    rule = SubtitleFrame(320, 180).line_rule(font)
    words = uneven_words(text)
    cues, timed = split_spoken(text, words, 1.0, words[-1][2], rule)
    assert timed and len(cues) >= 2
    starts = [word[1] for word in words]
    for cue, following in zip(cues, cues[1:]):
        assert cue.start in starts and cue.end == following.start
        first_word = next(word for word in words if word[1] == cue.start)
        assert cue.text.casefold().startswith(first_word[0].casefold())
    assert cues[-1].end == words[-1][2]
    proportional = split_narration(text, 1.0, words[-1][2], rule)
    assert [cue.text for cue in proportional] == [cue.text for cue in cues]
    assert any(abs(a.start - b.start) > 0.05 for a, b in zip(cues, proportional))


def test_a_name_prefix_is_not_matched_as_a_spoken_word(font: FontInfo) -> None:
    rule = SubtitleFrame(1280, 720).line_rule(font)
    words = [("Tom", 2.0, 2.3), ("come", 2.3, 2.6), ("here", 2.6, 3.0)]
    cues, timed = split_spoken("Tom: Tom, come here.", words, 2.0, 3.0, rule, skip=len("Tom:"))
    assert timed and [(cue.start, cue.end, cue.text) for cue in cues] == [(2.0, 3.0, "Tom: Tom, come here.")]


def test_words_that_do_not_match_the_text_fall_back_to_proportional_timing(font: FontInfo) -> None:
    rule = SubtitleFrame(320, 180).line_rule(font)
    cues, timed = split_spoken(LONG_ENGLISH, [("unrelated", 1.0, 2.0)], 1.0, 9.0, rule)
    assert not timed
    assert cues == split_narration(LONG_ENGLISH, 1.0, 9.0, rule)


def test_a_coloured_cue_is_drawn_in_its_colour_and_the_srt_names_the_speaker(tmp_path: Path, font: FontInfo) -> None:
    cues = [
        Cue(0.0, 1.0, "What are you doing here?", ("What are you doing here?",), colour="FFD75E", label="Tom: "),
        Cue(1.0, 2.0, "Tom asked.", ("Tom asked.",)),
    ]
    write_ass(cues, tmp_path / "subs.ass", font=font, width=320, height=180)
    events = [line for line in (tmp_path / "subs.ass").read_text(encoding="utf-8").splitlines() if line.startswith("Dialogue:")]
    assert events[0].endswith(r",,{\c&H5ED7FF&}What are you doing here?")
    assert events[1].endswith(",,Tom asked.")
    write_srt(cues, tmp_path / "subs.srt")
    assert (tmp_path / "subs.srt").read_text(encoding="utf-8").split("\n\n")[0].endswith("\nTom: What are you doing here?")
