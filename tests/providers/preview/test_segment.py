"""Properties of the preview storyboard's cuts, checked over seeded random scripts: nothing lost or
reordered, cuts only between sentences (inside one only when it is over the cap, and then at a clause
mark unless the clause is over the cap too), every shot under the cap while the shot count allows."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from story2video.providers.base import StoryboardRequest
from story2video.providers.preview.segment import Timeline, TooFewPieces, plan_shots
from story2video.providers.preview.storyboard import build_storyboard
from story2video.providers.preview.text import Break, speaking_seconds, tokenize

ZH_SENTENCES = [
    "小猫醒了。",
    "它吃了一条鱼。",
    "清晨，雾气笼罩着江边的小镇。",
    "夜里，雨越下越大。",
    "第二天一早，邻居发现面馆的门没有开。",
    "“你见过大海吗？”她问道。",
    "“我……我没有钱。”年轻人小声说。",
    "老周说：“昨晚多放了两根骨头，您尝尝。”",
    "工地上的工人、放学的孩子、路过的司机，大家围坐在一起，热气腾腾的面碗把小小的屋子熏得暖洋洋的。",
    "他一边擦着柜台，一边抬头看了看墙上那张泛黄的照片，照片里，年轻的他抱着一个小男孩，两个人都笑得眯起了眼睛，"
    "那是很多年前的一个夏天，江边的风很轻，柳树的影子落在水面上，远处的渡轮慢慢地开过去。",
    "远处的山坡上一群穿着红衣服的孩子正在放风筝风筝越飞越高一直飞到了云彩的后面再也看不见了大家都拍着手笑了起来",
    "他哭了！",
    "三天后，小川赶了回来。",
]
EN_SENTENCES = [
    "The cat woke up.",
    "It ate a fish.",
    "That night, a storm rolled in from the north.",
    "Meanwhile, the old keeper climbed the 214 steps of the lighthouse.",
    '"Where were you?" she asked.',
    '"Out at sea," he said, shaking the rain from his coat, "where you taught me to go."',
    "Mr. Hale lit the lamp at 9.30 sharp.",
    "The waves crashed against the rocks, the wind screamed through the broken windows, the shutters banged, "
    "and somewhere below a dog barked at the thunder, again and again, until the whole house seemed to shake.",
    "He walked along the quiet river thinking about the years he had spent far from home and about the son he had "
    "not seen since the long war ended and the ships came back empty to the harbour in the grey cold rain",
    "Later, the sun came out.",
    "No one answered...",
]
CAPS = (6.0, 12.0, 20.0)


def random_script(seed: int) -> str:
    rng = random.Random(seed)
    pool, space = (ZH_SENTENCES, "") if seed % 2 == 0 else (EN_SENTENCES, " ")
    parts = []
    for _ in range(rng.randint(1, 60)):
        parts.append(rng.choice(pool))
        parts.append(rng.choice([space, space, space, "\n\n", "\n"]))
    return "".join(parts).strip()


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def containing(spans: list[tuple[int, int]], index: int) -> tuple[int, int]:
    return next(span for span in spans if span[0] < index < span[1])


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("seed", range(30))
def test_cuts_keep_the_text_whole_and_fall_between_sentences(seed: int, cap: float):
    script = random_script(seed)
    tokens = tokenize(script)
    timeline = Timeline(tokens)
    spans = plan_shots(timeline, cap, 1, 30)
    assert spans[0][0] == 0 and spans[-1][1] == len(tokens.atoms)
    assert all(left[1] == right[0] and left[0] < left[1] for left, right in itertools.pairwise(spans))
    clause_starts = [k + 1 for k, strength in enumerate(tokens.breaks) if strength >= Break.COMMA]
    clauses = list(itertools.pairwise([0, *clause_starts, len(tokens.atoms)]))
    for _, cut in spans[:-1]:
        strength = tokens.breaks[cut - 1]
        if strength >= Break.SENTENCE:
            continue
        sentence = containing(timeline.sentences, cut)
        assert timeline.seconds(*sentence) > cap, tokens.slice(*sentence)
        if strength < Break.COMMA:
            assert timeline.seconds(*containing(clauses, cut)) > cap
    if len(spans) < 30:
        assert all(timeline.seconds(first, stop) <= cap for first, stop in spans)


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("seed", range(0, 30, 3))
def test_the_storyboard_narrations_joined_are_the_script(seed: int, cap: float):
    script = random_script(seed)
    shots = build_storyboard(StoryboardRequest(script=script, style=""), cap).shots
    assert squeeze("".join(shot.narration for shot in shots)) == squeeze(script)
    bound = StoryboardRequest(script=script, style="").max_shots
    assert 1 <= len(shots) <= bound
    if len(shots) < bound:
        assert all(speaking_seconds(shot.narration) <= cap for shot in shots)


@pytest.mark.parametrize("seed", range(0, 30, 5))
def test_an_exact_count_is_met_or_refused(seed: int):
    script = random_script(seed)
    timeline = Timeline(tokenize(script))
    for count in (1, 2, 7, 30):
        try:
            spans = plan_shots(timeline, 12.0, count, count)
        except TooFewPieces as short:
            assert short.possible < count
            continue
        assert len(spans) == count and spans[-1][1] == timeline.size


def test_the_estimate_follows_the_text():
    assert speaking_seconds("小猫醒了。它吃了一条鱼。") < speaking_seconds("小猫醒了。它吃了一条鱼。它又睡着了。")
    assert speaking_seconds("One day a cat woke up.") == pytest.approx(6 * 0.29 + 0, abs=0.01)
    assert speaking_seconds("") == 0
