from __future__ import annotations

import pytest

from story2video.providers.preview.scenes import opens_scene


@pytest.mark.parametrize(
    "sentence",
    [
        "清晨，雾气笼罩着小镇。",
        "夜里，雨越下越大。",
        "第二天一早，邻居来了。",
        "三天后，小川回来了。",
        "一个月后，面馆开张了。",
        "与此同时，另一边的街上很安静。",
        "那天晚上，他没有睡。",
        "“后来呢？”",
        "Later, the sun came out.",
        "That night it rained.",
        "Meanwhile, the ship sailed on.",
        "The next morning was cold.",
        "Two days later, he left.",
        "One winter evening, a storm came.",
        "At dawn they set off.",
        '"Years later," she said, "I came back."',
    ],
)
def test_a_change_of_time_or_place_opens_a_scene(sentence: str):
    assert opens_scene(sentence)


@pytest.mark.parametrize(
    "sentence",
    ["他清晨就起床了。", "那个男孩叫小川。", "老周推开面馆的门。", "The lighthouse stood alone.", "He came back later."],
)
def test_an_ordinary_sentence_does_not(sentence: str):
    assert not opens_scene(sentence)
