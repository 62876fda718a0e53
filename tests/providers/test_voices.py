"""Choosing a character's voice from its hints out of a backend's table."""

from __future__ import annotations

import pytest

from story2video.providers.base import VoiceHints
from story2video.providers.voices import pick_voice, table_problem, timbre_class

TABLE = {"female": ["f1", "f2"], "male": ["m1", "m2"], "any": ["m1", "f1"], "female-old": ["granny"], "male-deep": ["bass"]}


def test_characters_of_one_gender_get_different_voices_while_there_are_enough():
    taken: list[str] = []
    for _ in range(2):
        taken.append(pick_voice(TABLE, VoiceHints(gender="female"), taken))
    assert taken == ["f1", "f2"]
    assert pick_voice(TABLE, VoiceHints(gender="female"), taken) in ("f1", "f2")  # reused, never a male voice


def test_the_most_specific_key_wins_and_the_choice_is_deterministic():
    assert pick_voice(TABLE, VoiceHints("female", "old"), []) == "granny"
    assert pick_voice(TABLE, VoiceHints("male", timbre="低沉，沙哑"), []) == "bass"
    assert pick_voice(TABLE, VoiceHints("male", timbre="warm"), ["m1"]) == "m2"
    assert pick_voice(TABLE, VoiceHints(), []) == "m1"
    assert [pick_voice(TABLE, VoiceHints("female"), ["f1"]) for _ in range(3)] == ["f2"] * 3


@pytest.mark.parametrize(("words", "kind"), [("deep and husky", "deep"), ("清脆", "bright"), ("warm", "")])
def test_timbre_words_map_to_a_class(words, kind):
    assert timbre_class(words) == kind


def test_a_table_from_the_settings_is_checked():
    assert table_problem(TABLE) is None
    assert "unknown keys ['women']" in table_problem({"women": ["a"]})
    assert "need a list" in table_problem({"female": []})
    assert "at least one of" in table_problem({"old": ["a"]})
