from __future__ import annotations

import itertools

import pytest

from story2video.providers.preview.tone import NEUTRAL, TONES, guess_tone


@pytest.mark.parametrize(
    "text,tone",
    [
        ("他突然听见身后传来尖叫，心跳得飞快。", "tense"),
        ("她哭着说再见，眼泪落在信上。", "sad"),
        ("孩子们在院子里开心地跳舞唱歌。", "joyful"),
        ("妈妈轻轻拥抱着他，屋里暖洋洋的。", "warm"),
        ("湖面很安静，微风慢慢吹过。", "calm"),
        ("浓雾里传来一阵低语，没有人知道那个秘密。", "mysterious"),
        ("他喜欢读书。", NEUTRAL),  # 喜欢 is not 欢快
        ("他一点也不害怕。", "calm"),
        ("她并不开心。", "sad"),
        ("他不停地笑。", "joyful"),  # 不停 is not a negation
        ("她非常开心。", "joyful"),
        ("他忍不住哭了。", "sad"),
        ("The children laughed and danced in the garden.", "joyful"),
        ("He was not afraid of the storm.", "calm"),
        ("She was not happy at all.", "sad"),
        ("He couldn't stop laughing.", "joyful"),
        ("A strange shadow moved in the mist.", "mysterious"),
    ],
)
def test_tone_follows_weighted_words_and_negation(text: str, tone: str):
    assert guess_tone(text) == tone


DEATHS = ["他去世了。", "老人永远地闭上了眼睛。", "葬礼那天下着雨。", "已经没有了呼吸。", "He died that winter.", "At the funeral,"]
JOYS = ["孩子们开心地笑着，唱歌跳舞，欢呼庆祝！", "大家哈哈大笑。", "They laughed, sang and danced with joy!", "她微笑着。"]


@pytest.mark.parametrize("death,joy", list(itertools.product(DEATHS, JOYS)))
def test_a_death_scene_is_never_joyful(death: str, joy: str):
    for text in (death + joy, joy + death):
        assert guess_tone(text) != "joyful"


def test_a_denied_death_is_no_death():
    assert guess_tone("他没有死，孩子们开心地笑着，唱歌跳舞。") == "joyful"


def test_every_guess_is_a_known_tone():
    assert {guess_tone(text) for text in DEATHS + JOYS + ["", "。", "hello"]} <= set(TONES) | {NEUTRAL}
