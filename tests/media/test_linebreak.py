from __future__ import annotations

import pytest

from story2video.media.linebreak import LineRule, Run, balanced_lines, cue_spans, normalise, pieces


def chars(text: str) -> float:
    """A stand-in measure: every character one unit wide."""
    return float(len(text))


def rule(width: float, max_wide: int = 100) -> LineRule:
    return LineRule(chars, width, max_wide)


def test_pieces_join_back_to_the_text_without_stray_spaces() -> None:
    assert normalise("他说：  Hello  world， 然后 离开了。") == "他说：Hello world，然后离开了。"
    assert normalise("“请把我 送到大海。” 她说") == "“请把我送到大海。”她说"
    text = "The boat—small, white—drifted (slowly) on. 纸船漂向“远方”。"
    assert "".join(p.text if not p.spaced else f" {p.text}" for p in pieces(text)) == normalise(text)


@pytest.mark.parametrize("abbreviation", ["Mrs.", "Mr.", "Dr.", "St.", "e.g.", "etc.", "Prof.", "J."])
def test_an_abbreviation_stays_with_the_word_after_it(abbreviation: str) -> None:
    texts = [p.text for p in pieces(f"We met {abbreviation} Smith at noon.")]
    assert f"{abbreviation} Smith" in texts


def test_a_sentence_end_is_not_an_abbreviation() -> None:
    assert [p.text for p in pieces("She left. Smith stayed.")] == ["She", "left.", "Smith", "stayed."]


def test_chinese_punctuation_never_starts_a_line_and_openers_never_end_one() -> None:
    texts = [p.text for p in pieces("他说：“走吧。”")]
    assert texts == ["他", "说：", "“走", "吧。”"]


def test_balanced_lines_have_no_lone_last_word() -> None:
    run = Run(pieces("Mrs. Smith found the great old house at the end of the lane"), rule(40))
    lines = balanced_lines(run)
    assert len(lines) == 2
    assert all(len(line.split()) > 1 for line in lines)
    assert abs(len(lines[0]) - len(lines[1])) <= 8
    assert not any(line.endswith("Mrs.") for line in lines)


def test_balanced_lines_prefer_a_comma_to_a_perfect_balance() -> None:
    run = Run(pieces("清晨的钟声响起，少女推开木窗望见远山"), rule(12))
    assert balanced_lines(run) == ["清晨的钟声响起，", "少女推开木窗望见远山"]


def test_the_wide_character_cap_applies_to_chinese_only() -> None:
    chinese = Run(pieces("一二三四五六七八九十一二三四五六七八九十一二三四五"), rule(100, max_wide=20))
    assert sorted(len(line) for line in balanced_lines(chinese)) == [12, 13]
    english = Run(pieces("one two three four five six seven eight nine ten eleven"), rule(100, max_wide=20))
    assert len(balanced_lines(english)) == 1


def test_a_word_wider_than_a_line_is_cut() -> None:
    lines = balanced_lines(Run(pieces("a Donaudampfschifffahrtsgesellschaft b"), rule(12)))
    assert all(len(line) <= 12 for line in lines)
    assert "".join(lines).replace(" ", "") == "aDonaudampfschifffahrtsgesellschaftb"


def test_cues_end_at_sentences_rather_than_mid_sentence() -> None:
    text = "The bell rang over the town. Lin opened the window and saw the mist on the hills."
    run = Run(pieces(text), rule(45))
    cues = [run.text(*span) for span in cue_spans(run, max_lines=2)]
    assert cues == ["The bell rang over the town.", "Lin opened the window and saw the mist on the hills."]


def test_cues_of_one_long_sentence_are_cut_at_clauses_and_cover_every_piece() -> None:
    text = "她穿过稻田，越过石桥，走过长长的河岸，天色渐渐暗了下来，萤火虫照亮了河岸，她终于听见了海浪的声音"
    run = Run(pieces(text), rule(10))
    spans = cue_spans(run, max_lines=2)
    assert [start for start, _ in spans[1:]] == [end for _, end in spans[:-1]]
    assert spans[0][0] == 0 and spans[-1][1] == len(run)
    for start, end in spans[:-1]:
        assert run.text(start, end).endswith("，")
