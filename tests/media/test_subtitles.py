from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from PIL import Image

from story2video.media.ffmpeg import run_ffmpeg
from story2video.media.fontnames import ass_font_name
from story2video.media.fonts import FontInfo
from story2video.media.fontmetrics import AssTextMeasure
from story2video.media.linebreak import wide_count
from story2video.media.subtitles import (
    LINES_PER_CUE,
    MAX_LINE_SHARE,
    MAX_WIDE_CHARS,
    Cue,
    SubtitleFrame,
    escape_ass,
    subtitle_band_top,
    split_narration,
    write_ass,
    write_srt,
)
from tests.media.avcheck import changed_pixels

CHINESE = "清晨，小镇的钟声响起，少女林夏推开木窗，望见远山上的薄雾。她背起画板，沿着青石小路走向河边！"
ENGLISH = "The morning bell rang over the little town. Lin Xia opened the wooden window, and saw the mist on the hills."


def assert_contiguous(cues: list[Cue], start: float, end: float) -> None:
    assert cues[0].start == pytest.approx(start)
    assert cues[-1].end == end
    for before, after in zip(cues, cues[1:]):
        assert after.start == before.end
        assert before.end > before.start


FRAMES = [(1280, 720), (720, 1280), (720, 720), (320, 180)]
LONG_ENGLISH = (
    "Mrs. Smith found the great old house at the end of the lane. Dr. Brown said it had been empty for years, "
    "and Mr. Lee agreed. She pushed open the door: dust, cobwebs, a grand piano, etc. Upstairs, e.g. in the "
    "attic, St. John's old letters lay in a box."
)
CHINESE_WITH_QUOTES = "老陈说： “今天的面，  我请。” 他擦了擦手，望向江面，雾气还没有散去。"
FULL_WIDTH_THEN_SPACE = re.compile("[\u3000-\u303f\uff00-\uffef“”‘’] ")
ABBREVIATION_AT_END = re.compile(r"(?:^|\s)(?:Mrs|Mr|Dr|St|etc|e\.g)\.$")


def cues_for(text: str, font: FontInfo, size: tuple[int, int]) -> tuple[list[Cue], SubtitleFrame]:
    frame = SubtitleFrame(*size)
    return split_narration(text, 0.0, 9.0, frame.line_rule(font)), frame


@pytest.mark.parametrize("size", FRAMES)
@pytest.mark.parametrize("text", [CHINESE, ENGLISH, LONG_ENGLISH, CHINESE_WITH_QUOTES])
def test_lines_fit_the_frame_as_the_subtitle_font_measures_them(font: FontInfo, size, text: str) -> None:
    cues, frame = cues_for(text, font, size)
    measure = AssTextMeasure(font, frame.font_size)
    assert_contiguous(cues, 0.0, 9.0)
    for cue in cues:
        assert 1 <= len(cue.lines) <= LINES_PER_CUE, cue
        for line in cue.lines:
            assert measure(line) <= MAX_LINE_SHARE * size[0], (line, measure(line))
            assert wide_count(line) <= MAX_WIDE_CHARS, line


@pytest.mark.parametrize("size", FRAMES)
@pytest.mark.parametrize("text", [CHINESE, ENGLISH, LONG_ENGLISH, CHINESE_WITH_QUOTES])
def test_cues_keep_every_word_and_break_only_where_reading_allows(font: FontInfo, size, text: str) -> None:
    cues, _ = cues_for(text, font, size)
    shown = "".join("".join(cue.lines) for cue in cues)
    assert re.sub(r"[\s，。！：]", "", shown) == re.sub(r"[\s，。！：]", "", text)
    for cue in cues:
        assert " ".join(cue.lines).replace(" ", "") == cue.text.replace(" ", "")
        for line in cue.lines:
            assert not ABBREVIATION_AT_END.search(line), line
            assert not FULL_WIDTH_THEN_SPACE.search(line), line
            assert line[0] not in "，。！？：；、”」）", line
        if len(cue.lines) > 1:  # no orphan: a line of one short word or one or two characters
            for line in cue.lines:
                assert len(line.split()) > 1 or wide_count(line) > 2, cue.lines
    assert not ABBREVIATION_AT_END.search(cues[-1].text) or len(cues) == 1


def test_an_english_sentence_uses_the_width_of_a_landscape_frame(font: FontInfo) -> None:
    cues, frame = cues_for("Mrs. Smith found the great old house at the end of the lane.", font, (1280, 720))
    assert [cue.lines for cue in cues] == [("Mrs. Smith found the great old house at the end of the lane.",)]
    assert AssTextMeasure(font, frame.font_size)(cues[0].lines[0]) > 0.7 * 1280


@pytest.mark.parametrize("size", [(1280, 720), (720, 1280), (720, 720), (1920, 1080)])
def test_a_chinese_line_holds_sixteen_to_twenty_characters(font: FontInfo, size) -> None:
    text = "林夏小心地捧起纸船决定跟着河流出发她穿过稻田越过石桥"
    one_line = [n for n in range(1, len(text) + 1) if len(cues_for(text[:n], font, size)[0][0].lines) == 1]
    assert 16 <= max(one_line) <= MAX_WIDE_CHARS


def test_sentences_get_their_own_cue_or_their_own_line(font: FontInfo) -> None:
    cues, _ = cues_for(ENGLISH, font, (1280, 720))
    for cue in cues:
        for line in cue.lines:  # a line holds the end of one sentence only at its end
            assert not re.search(r"[.!?] \S", line) or len(cue.lines) == 1, cue.lines


def test_cue_durations_are_proportional_to_characters(font: FontInfo) -> None:
    cues, _ = cues_for(CHINESE, font, (720, 1280))
    assert len(cues) >= 2
    rates = [(cue.end - cue.start) / len(cue.text.replace(" ", "")) for cue in cues]
    assert max(rates) == pytest.approx(min(rates))


def test_chinese_cues_end_at_punctuation_without_their_pause_mark(font: FontInfo) -> None:
    cues, _ = cues_for(CHINESE, font, (720, 1280))
    clauses = [c for c in re.split(r"[，。！]", CHINESE) if c]
    for cue in cues:
        assert not cue.text.endswith(("，", "。")) and not cue.lines[-1].endswith(("，", "。"))
        assert all(part in clauses for part in re.split(r"[，。！]", cue.text) if part)


def test_decimal_points_and_thousands_do_not_break(font: FontInfo) -> None:
    cues, _ = cues_for("Pi is 3.14 and a crowd of 1,000 people cheered.", font, (1280, 720))
    assert [cue.text for cue in cues] == ["Pi is 3.14 and a crowd of 1,000 people cheered."]


def test_empty_narration_has_no_cues(font: FontInfo) -> None:
    assert cues_for("  ，。 ", font, (320, 180))[0] == []


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
    assert f"Style: Default,{ass_font_name(font)},14," in text  # 7.5 % of 180
    dialogue = next(line for line in text.splitlines() if line.startswith("Dialogue:"))
    assert dialogue.startswith("Dialogue: 0,0:00:00.00,0:00:02.00,Default,")
    assert dialogue.count("\\N") == 1


def test_ass_and_srt_show_the_lines_the_cue_was_laid_out_on(tmp_path: Path, font: FontInfo) -> None:
    cue = Cue(0.0, 2.0, "Mrs. Smith found the great old house", lines=("Mrs. Smith found", "the great old house"))
    write_ass([cue], tmp_path / "subs.ass", font=font, width=1280, height=720)
    assert (tmp_path / "subs.ass").read_text(encoding="utf-8").endswith(",Mrs. Smith found\\Nthe great old house\n")
    write_srt([cue], tmp_path / "subs.srt")
    assert (tmp_path / "subs.srt").read_text(encoding="utf-8").endswith("\nMrs. Smith found\nthe great old house\n")


def render_subtitle(
    ffmpeg: Path, font: FontInfo, cue: Cue, name: str, folder: Path, size: tuple[int, int] = (320, 180)
) -> Image.Image:
    """One grey frame with ``cue`` burned in by libass."""
    ass = folder / f"{name}.ass"
    write_ass([cue], ass, font=font, width=size[0], height=size[1])
    png = ass.with_suffix(".png")
    graph = f"ass=filename={ass}:fontsdir={font.directory}"
    args = ["-f", "lavfi", "-i", f"color=c=gray:s={size[0]}x{size[1]}:d=1", "-vf", graph, "-frames:v", "1", str(png)]
    asyncio.run(run_ffmpeg(ffmpeg, args))
    return Image.open(png).convert("L")


def test_libass_finds_the_font_and_draws_chinese(ffmpeg_bin: Path, font: FontInfo, tmp_path: Path) -> None:
    # Missing glyphs are drawn as identical boxes; real glyphs differ from one another.
    first = render_subtitle(ffmpeg_bin, font, Cue(0.0, 5.0, "山山山"), "first", tmp_path)
    second = render_subtitle(ffmpeg_bin, font, Cue(0.0, 5.0, "水水水"), "second", tmp_path)
    lower = (0, 120, 320, 180)
    assert changed_pixels(first, second, lower) >= 20


@pytest.mark.parametrize("line", ["Mrs. Smith found the great old house at the end", "清晨，少女推开木窗，望见远山的薄雾"])
def test_libass_draws_a_line_as_wide_as_it_was_measured(ffmpeg_bin: Path, font: FontInfo, tmp_path: Path, line: str) -> None:
    size = (1280, 720)
    frame = render_subtitle(ffmpeg_bin, font, Cue(0.0, 5.0, line, lines=(line,)), "wide", tmp_path, size)
    ink = frame.point(lambda value: 255 if value > 200 else 0).getbbox()  # the white glyphs
    assert ink is not None
    measured = AssTextMeasure(font, SubtitleFrame(*size).font_size)(line)
    assert ink[2] - ink[0] == pytest.approx(measured, rel=0.04)


@pytest.mark.parametrize("size", [(1280, 720), (720, 1280), (320, 180)])
def test_a_full_cue_reaches_up_to_the_band_top_and_no_higher(
    ffmpeg_bin: Path, font: FontInfo, tmp_path: Path, size: tuple[int, int]
) -> None:
    cue = Cue(0.0, 5.0, "山高水长", lines=("山高水长", "月落乌啼"))
    frame = render_subtitle(ffmpeg_bin, font, cue, "band", tmp_path, size)
    box = frame.point(lambda value: 255 if value < 100 else 0).getbbox()  # the dark box on grey
    assert box is not None
    band_top = subtitle_band_top(*size)
    assert band_top <= box[1] <= band_top + max(3, size[1] // 100), (band_top, box)
