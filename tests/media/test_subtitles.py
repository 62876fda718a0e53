from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from PIL import Image

from story2video.media.ffmpeg import run_ffmpeg
from story2video.media.fontnames import ass_font_name
from story2video.media.fonts import FontInfo
from story2video.media.subtitles import Cue, escape_ass, split_narration, wrap_text, write_ass, write_srt
from tests.media.avcheck import changed_pixels

CHINESE = "清晨，小镇的钟声响起，少女林夏推开木窗，望见远山上的薄雾。她背起画板，沿着青石小路走向河边！"
ENGLISH = "The morning bell rang over the little town. Lin Xia opened the wooden window, and saw the mist on the hills."


def assert_contiguous(cues: list[Cue], start: float, end: float) -> None:
    assert cues[0].start == pytest.approx(start)
    assert cues[-1].end == end
    for before, after in zip(cues, cues[1:]):
        assert after.start == before.end
        assert before.end > before.start


def test_chinese_cues_respect_the_limit_and_cover_the_range() -> None:
    cues = split_narration(CHINESE, 0.2, 6.2, max_chars=12)
    assert len(cues) >= 3
    assert all(len(cue.text) <= 12 for cue in cues)
    assert_contiguous(cues, 0.2, 6.2)


def test_chinese_cues_end_at_punctuation_and_keep_every_character() -> None:
    cues = split_narration(CHINESE, 0.0, 5.0, max_chars=12)
    kept = "".join(cue.text for cue in cues)
    assert re.sub(r"[，。！]", "", kept) == re.sub(r"[，。！]", "", CHINESE)
    # clauses are never cut in the middle: every cue is made of whole clauses
    clauses = [c for c in re.split(r"[，。！]", CHINESE) if c]
    for cue in cues:
        assert all(part in clauses for part in re.split(r"[，。！]", cue.text) if part)


def test_durations_are_proportional_to_characters() -> None:
    cues = split_narration(CHINESE, 1.0, 9.0, max_chars=10)
    rates = [(cue.end - cue.start) / len(cue.text.replace(" ", "")) for cue in cues]
    assert max(rates) == pytest.approx(min(rates))


def test_english_breaks_only_at_spaces() -> None:
    cues = split_narration(ENGLISH, 0.0, 8.0, max_chars=24)
    assert all(len(cue.text) <= 24 for cue in cues)
    words = ENGLISH.split()
    assert " ".join(cue.text for cue in cues).split() == words
    assert_contiguous(cues, 0.0, 8.0)


def test_a_long_clause_without_punctuation_is_split_evenly() -> None:
    text = "一二三四五六七八九十" * 3  # 30 characters, no punctuation
    cues = split_narration(text, 0.0, 3.0, max_chars=14)
    assert [len(cue.text) for cue in cues] == [10, 10, 10]


def test_decimal_points_and_thousands_do_not_break() -> None:
    cues = split_narration("Pi is 3.14 and a crowd of 1,000 people cheered.", 0.0, 2.0, max_chars=60)
    assert [cue.text for cue in cues] == ["Pi is 3.14 and a crowd of 1,000 people cheered."]


def test_empty_narration_has_no_cues() -> None:
    assert split_narration("  ，。 ", 0.0, 1.0, max_chars=10) == []


def test_wrap_text_balances_lines_under_the_limit() -> None:
    lines = wrap_text("甲乙丙丁戊己庚辛壬癸子丑寅卯", 10)
    assert lines == ["甲乙丙丁戊己庚", "辛壬癸子丑寅卯"]
    assert wrap_text("short", 10) == ["short"]


@pytest.mark.parametrize("limit", range(4, 13))
def test_wrapped_lines_keep_punctuation_with_its_word(limit: int) -> None:
    lines = wrap_text(CHINESE, limit)
    assert "".join(lines) == CHINESE
    assert all(len(line) <= limit for line in lines)
    assert not any(line[0] in "，。！" for line in lines)


def test_srt_has_numbered_millisecond_cues(tmp_path: Path) -> None:
    path = tmp_path / "story.srt"
    write_srt([Cue(0.0, 1.5, "第一句"), Cue(1.5, 3661.0456, "second")], path)
    assert path.read_text(encoding="utf-8") == (
        "1\n00:00:00,000 --> 00:00:01,500\n第一句\n\n"
        "2\n00:00:01,500 --> 01:01:01,046\nsecond\n"
    )


def test_ass_escapes_override_characters() -> None:
    assert escape_ass("a{b}c") == r"a\{b\}c"
    assert "\\N" not in escape_ass("C:\\New")


def test_ass_wraps_long_chinese_lines(tmp_path: Path, font: FontInfo) -> None:
    path = tmp_path / "subs.ass"
    cue = Cue(0.0, 2.0, "这是一句很长很长的中文字幕需要被折成两行显示")
    write_ass([cue], path, font=font, width=180, height=320)
    text = path.read_text(encoding="utf-8")
    assert "PlayResX: 180" in text and "PlayResY: 320" in text
    assert f"Style: Default,{ass_font_name(font)},11," in text  # 6.2 % of 180
    dialogue = next(line for line in text.splitlines() if line.startswith("Dialogue:"))
    assert dialogue.startswith("Dialogue: 0,0:00:00.00,0:00:02.00,Default,")
    assert dialogue.count("\\N") == 1


def render_subtitle(ffmpeg: Path, font: FontInfo, text: str, name: str, folder: Path) -> Image.Image:
    """One grey 320x180 frame with ``text`` burned in by libass."""
    ass = folder / f"{name}.ass"
    write_ass([Cue(0.0, 5.0, text)], ass, font=font, width=320, height=180)
    png = ass.with_suffix(".png")
    graph = f"ass=filename={ass}:fontsdir={font.directory}"
    args = ["-f", "lavfi", "-i", "color=c=gray:s=320x180:d=1", "-vf", graph, "-frames:v", "1", str(png)]
    asyncio.run(run_ffmpeg(ffmpeg, args))
    return Image.open(png)


def test_libass_finds_the_font_and_draws_chinese(ffmpeg_bin: Path, font: FontInfo, tmp_path: Path) -> None:
    # Missing glyphs are drawn as identical boxes; real glyphs differ from one another.
    first = render_subtitle(ffmpeg_bin, font, "山山山", "first", tmp_path)
    second = render_subtitle(ffmpeg_bin, font, "水水水", "second", tmp_path)
    lower = (0, 120, 320, 180)
    assert changed_pixels(first, second, lower) >= 20
