"""The preview storyboard's cast by rules: who speaks each quotation, and a fixed look for each."""

from __future__ import annotations

import pytest

from story2video.castfields import NARRATOR, LineFields, lines_problem
from story2video.providers.base import StoryboardRequest
from story2video.providers.preview.storyboard import build_storyboard

ZH = (
    "张明推开门，看见小红站在窗边。“你怎么来了？”张明问道。"
    "小红转过身，笑着说：“我来给你送伞。”她把伞递给他。“谢谢你，”他说，“外面雨真大。”"
)
EN = (
    'Tom opened the door and saw Anna by the window. "What are you doing here?" Tom asked. '
    'Anna turned around and smiled. "I brought you an umbrella," she said. "Thank you," he said. "It is pouring outside."'
)


def storyboard(script: str, **options):
    return build_storyboard(StoryboardRequest(script=script, style="", **options), 12.0)


def spoken(board) -> list[tuple[str, str]]:
    names = {character.id: character.name for character in board.cast}
    return [(names.get(line.speaker, line.speaker), line.text) for shot in board.shots for line in shot.lines]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (ZH, [("张明", "你怎么来了？"), ("小红", "我来给你送伞。"), ("张明", "谢谢你，"), ("张明", "外面雨真大。")]),
        (EN, [("Tom", "What are you doing here?"), ("Anna", "I brought you an umbrella,"), ("Tom", "Thank you,"), ("Tom", "It is pouring outside.")]),
    ],
)
def test_each_quotation_goes_to_its_speaker_by_name_pronoun_or_continuation(script, expected):
    board = storyboard(script)
    said = [pair for pair in spoken(board) if pair[0] != NARRATOR]
    assert said == expected
    assert {character.name for character in board.cast} == {name for name, _ in expected}


@pytest.mark.parametrize("script", [ZH, EN])
def test_the_lines_of_every_shot_say_exactly_its_narration(script):
    board = storyboard(script, shot_count=2)
    ids = {character.id for character in board.cast}
    for shot in board.shots:
        lines = [LineFields(speaker=line.speaker, text=line.text) for line in shot.lines]
        assert lines_problem(shot.narration, lines, ids) is None
        assert set(shot.characters) <= ids


def test_a_shot_shows_the_characters_it_names_even_before_they_speak():
    board = storyboard(ZH, shot_count=2)
    xiaohong = next(character.id for character in board.cast if character.name == "小红")
    assert xiaohong in board.shots[0].characters  # 看见小红站在窗边, though she speaks only later


def test_a_quotation_nobody_can_be_given_stays_the_narrators():
    board = storyboard('The sign over the door said "Closed for the winter". Nobody came that year.')
    assert board.cast == []
    assert {line.speaker for shot in board.shots for line in shot.lines} == {NARRATOR}


def test_the_cast_is_the_same_for_the_same_script_and_looks_differ():
    first, second = storyboard(EN), storyboard(EN)
    assert first.cast == second.cast
    tom, anna = first.cast
    assert (tom.gender, anna.gender) == ("male", "female")
    assert tom.appearance != anna.appearance and "coat" in tom.appearance + anna.appearance
    zh = storyboard(ZH).cast
    assert all("，" in character.appearance and character.timbre.isascii() is False for character in zh)


def test_lines_problem_names_an_unknown_speaker_and_a_wrong_sum():
    lines = [LineFields(speaker="ghost", text="Boo.")]
    assert "ghost" in lines_problem("Boo.", lines, {"tom"})
    lines = [LineFields(speaker=NARRATOR, text="Half of it.")]
    assert "exactly" in lines_problem("Half of it. And more.", lines, set())
