from __future__ import annotations

import asyncio
import re

import pytest
from pydantic import ValidationError

from story2video.config import Settings
from story2video.errors import InvalidRequest, OperationCancelled
from story2video.providers.base import ShotDraft, StageContext, StoryboardRequest, StoryboardWriter
from story2video.providers.preview.clip import camera_move
from story2video.providers.preview.storyboard import PreviewStoryboardWriter
from story2video.providers.preview.text import speaking_seconds, split_sentences
from story2video.providers.registry import preview_registry
from tests.providers.preview.stories import LONG_CHINESE_STORY

CHINESE_STORY = (
    "老陈在江边开了一家小小的面馆，已经整整三十年了。每天清晨五点，他都会准时推开那扇吱呀作响的木门，点亮炉火。\n\n"
    "这天早上，雾气很重。一个穿着校服的小女孩站在门口，怯生生地问：“爷爷，一碗面要多少钱？”老陈笑了笑，说：“你有多少？”\n\n"
    "女孩摊开手心，里面只有三枚硬币。老陈没有说话，转身给她煮了一大碗牛肉面，还多加了一个荷包蛋。\n\n"
    "后来，女孩每个周末都会来。她给老陈讲学校里的事，老陈给她讲江上的故事。面馆里的灯光，总是暖暖的。\n\n"
    "很多年以后，面馆要拆了。最后一天，门口来了一位年轻的女医生，她把三枚旧硬币轻轻放在柜台上，眼里含着泪。"
)
ENGLISH_STORY = (
    "The lighthouse stood alone at the edge of the world. Every night, Mr. Hale climbed its 214 steps "
    "and lit the lamp at 9.30 sharp.\n\n"
    "One winter evening, a storm rolled in from the north. The waves crashed against the rocks, and the wind "
    "screamed through the broken windows.\n\n"
    '"Is anyone out there?" he shouted into the dark. No one answered... Then, far away, a small light blinked '
    "three times.\n\nHe smiled. His daughter had come home."
)
MIXED_STORY = (
    "我今天用iPhone拍了一张照片，发给了Tom。他回复说：Nice shot! 我们都笑了。"
    "周末我们打算一起去West Lake散步，顺便看看日落。"
)

ZH_TONES = {"平静", "紧张", "欢快", "悲伤", "神秘", "温暖"}
EN_TONES = {"calm", "tense", "joyful", "sad", "mysterious", "warm"}
ZH_CAMERA_WORDS = ("推近", "拉远", "左移", "右移", "上摇", "下摇", "固定")
EN_CAMERA_WORDS = ("push in", "pull out", "pan left", "pan right", "tilt up", "tilt down", "static")


CAP = 12.0  # MAX_SHOT_SECONDS's default


def write(script: str, style: str = "写实", cap: float = CAP, **options) -> list[ShotDraft]:
    request = StoryboardRequest(script=script, style=style, **options)
    return asyncio.run(PreviewStoryboardWriter(max_shot_seconds=cap).write(request, StageContext())).shots


def narrations(script: str, **options) -> list[str]:
    return [shot.narration for shot in write(script, **options)]


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def assert_covers(script: str, shots: list[ShotDraft]) -> None:
    assert squeeze("".join(shot.narration for shot in shots)) == squeeze(script)


def assert_complete(shots: list[ShotDraft]) -> None:
    for shot in shots:
        for field in ("subject", "detail", "camera", "narration", "tone"):
            value = getattr(shot, field)
            assert value.strip(), f"empty {field} in {shot}"
        assert shot.narration == " ".join(shot.narration.split())


def test_chinese_story_becomes_sentence_aligned_shots_in_chinese():
    shots = write(CHINESE_STORY)
    assert 4 <= len(shots) <= 10
    assert_complete(shots)
    assert_covers(CHINESE_STORY, shots)
    for shot in shots:
        assert shot.narration[-1] in "。！？”", shot.narration  # default counts never cut inside a sentence
        assert len(shot.subject) <= 16 and shot.subject in shot.narration
        assert "写实" in shot.detail and shot.narration.rstrip("。")[:8] in shot.detail
        assert shot.tone in ZH_TONES
        assert any(word in shot.camera for word in ZH_CAMERA_WORDS), shot.camera
    assert "拉远" in shots[0].camera
    assert len({shot.camera for shot in shots}) >= 3
    assert len({shot.tone for shot in shots}) >= 2


def test_english_story_keeps_abbreviations_and_decimals_and_speaks_english():
    shots = write(ENGLISH_STORY, style="watercolor")
    assert 2 <= len(shots) <= 4
    assert_complete(shots)
    assert_covers(ENGLISH_STORY, shots)
    text = " ".join(shot.narration for shot in shots)
    assert "Mr. Hale" in text and "9.30" in text
    for shot in shots:
        assert not shot.narration.endswith("Mr.")
        assert len(shot.subject.split()) <= 8 and shot.subject[0].isupper()
        # a title cut inside its clause says so, instead of ending on a dangling word
        assert shot.subject.endswith("…") or shot.subject.lower() in shot.narration.lower(), shot.subject
        assert "watercolor style" in shot.detail
        assert shot.tone in EN_TONES
        assert any(word in shot.camera.lower() for word in EN_CAMERA_WORDS), shot.camera


def test_mixed_script_is_treated_as_chinese_and_keeps_english_words_whole():
    shots = write(MIXED_STORY)
    assert_complete(shots)
    assert_covers(MIXED_STORY, shots)
    assert all(shot.tone in ZH_TONES for shot in shots)
    words = [word for shot in shots for word in re.findall(r"[A-Za-z]+", shot.narration)]
    assert words == ["iPhone", "Tom", "Nice", "shot", "West", "Lake"]


def test_every_camera_direction_names_a_move_the_clip_maker_knows():
    for shots in (write(CHINESE_STORY), write(ENGLISH_STORY)):
        for shot in shots:
            # A keyword match does not depend on the seed; the seeded fallback does.
            assert {camera_move(shot.camera, seed) for seed in range(6)} == {camera_move(shot.camera, 0)}


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 10, 12, 20])
def test_exact_shot_count_is_honoured(count: int):
    shots = write(CHINESE_STORY, shot_count=count)
    assert len(shots) == count
    assert_complete(shots)
    assert_covers(CHINESE_STORY, shots)


def test_exact_shot_count_merges_whole_paragraphs_first():
    shots = write(CHINESE_STORY, shot_count=5)
    paragraphs = [squeeze(p) for p in CHINESE_STORY.split("\n\n")]
    assert [squeeze(shot.narration) for shot in shots] == paragraphs


@pytest.mark.parametrize(
    "script",
    ["他笑了笑，转过身，推开木门，走进了漫天的风雪里。", "One day a cat woke up.", "你好。", "Hi", "小猫醒了。它吃了一条鱼。"],
)
def test_a_short_script_is_one_shot_never_cut_inside_a_sentence(script: str):
    assert narrations(script) == [script]


def test_an_exact_count_cuts_at_clause_marks_but_never_inside_a_clause():
    script = "他笑了笑，转过身，推开木门，走进了漫天的风雪里。"
    assert narrations(script, shot_count=4) == ["他笑了笑，", "转过身，", "推开木门，", "走进了漫天的风雪里。"]
    assert narrations("小猫醒了。它吃了一条鱼。", shot_count=2) == ["小猫醒了。", "它吃了一条鱼。"]
    for script, count in ((script, 5), ("小猫醒了。它吃了一条鱼。", 3), ("你好呀", 2), ("One day a cat woke up.", 2)):
        with pytest.raises(InvalidRequest) as error:
            write(script, shot_count=count)
        assert error.value.param == "shot_count" and f"shot_count={count}" in error.value.message


def test_a_minimum_set_by_the_operator_refuses_a_script_too_short_for_it():
    with pytest.raises(InvalidRequest) as error:
        write("你好。", min_shots=2)
    assert error.value.param == "script_content" and "DEFAULT_MIN_SHOTS" in error.value.message
    assert narrations("小猫醒了。它吃了一条鱼。", min_shots=2) == ["小猫醒了。", "它吃了一条鱼。"]


@pytest.mark.parametrize("script", ["", "   \n\t ", "。，！？……", "🙂🎉✨", "—— ！ ……\n\n？？"])
def test_a_script_without_words_is_refused(script: str):
    with pytest.raises(InvalidRequest) as error:
        write(script)
    assert error.value.param == "script_content"


def test_invalid_shot_count_is_refused():
    with pytest.raises(InvalidRequest) as error:
        write(CHINESE_STORY, shot_count=0)
    assert error.value.param == "shot_count"


def test_short_sentences_merge_and_a_sentence_over_the_cap_splits_at_its_commas():
    script = "他点点头。她也笑了。风停了。" + "远处的山坡上，" * 12 + "一群孩子正在放风筝。"
    shots = narrations(script)
    assert "".join(shots) == script
    assert shots[0].startswith("他点点头。她也笑了。风停了。")
    assert all(shot.endswith(("，", "。")) for shot in shots)
    assert all(speaking_seconds(shot) <= CAP for shot in shots)


def test_a_clause_over_the_cap_splits_between_words_only_as_a_last_resort():
    script = "长" * 100 + "。"
    shots = narrations(script)
    assert "".join(shots) == script and len(shots) == 3
    words = " ".join(["word"] * 90) + "."
    english = narrations(words)
    assert " ".join(english) == words and all(speaking_seconds(shot) <= CAP for shot in english)


def test_long_script_stays_within_max_shots():
    script = "\n\n".join([CHINESE_STORY] * 38)
    assert len(script) > 10_000
    shots = write(script)
    assert len(shots) == 60  # DEFAULT_MAX_SHOTS: past it shots grow longer than the cap, evenly
    assert_covers(script, shots)
    assert all(shot.narration[-1] in "。！？”" for shot in shots)
    long_english = "\n\n".join([ENGLISH_STORY] * 25)
    assert len(write(long_english, max_shots=8)) == 8


def test_a_long_story_gets_many_short_shots_instead_of_ten_long_ones():
    assert len(LONG_CHINESE_STORY) > 1800
    shots = narrations(LONG_CHINESE_STORY)
    seconds = [speaking_seconds(shot) for shot in shots]
    assert 35 <= len(shots) < 60  # about 7 minutes of speech, every shot under the 12 s cap
    assert max(seconds) <= CAP, seconds
    assert all(shot[-1] in "。！？”，" for shot in shots)  # a comma only inside a sentence over the cap
    roomier = narrations(LONG_CHINESE_STORY, cap=20.0)
    assert 20 <= len(roomier) < len(shots) and all(speaking_seconds(shot) <= 20.0 for shot in roomier)


@pytest.mark.parametrize(
    "script,attributed",
    [
        ("老人坐在门口晒太阳。“你见过大海吗？”她问道。男孩摇了摇头。", "“你见过大海吗？”她问道。"),
        ("“我……我没有钱。”年轻人小声说。老周摆摆手，转身回到了灶台前。", "“我……我没有钱。”年轻人小声说。"),
        (
            'The old woman sat by the door in the sun. "Have you ever seen the sea?" she asked. The boy shook his head.',
            '"Have you ever seen the sea?" she asked.',
        ),
        ('He sat down. "Where were you?" Tom asked quietly. Nobody answered.', '"Where were you?" Tom asked quietly.'),
    ],
)
def test_dialogue_stays_with_its_attribution(script: str, attributed: str):
    assert attributed in narrations(script, shot_count=3)
    assert any(attributed in shot for shot in narrations(script))
    assert attributed in split_sentences(script)


def test_shots_are_cut_where_the_scene_changes():
    chinese = "清晨，小镇醒了过来。老周推开了面馆的门。夜里，雨下得很大。街上一个人也没有。老周关上了灯。他坐在窗前发呆。"
    assert narrations(chinese) == [
        "清晨，小镇醒了过来。老周推开了面馆的门。",
        "夜里，雨下得很大。街上一个人也没有。老周关上了灯。他坐在窗前发呆。",
    ]
    english = (
        "The sun rose over the quiet harbour. Boats rocked by the pier. That night, a storm broke over the town. "
        "Rain beat against the shutters. The old keeper lit his lamp. He waited by the window."
    )
    shots = narrations(english)
    assert len(shots) == 2 and shots[1].startswith("That night")


def test_output_is_deterministic_and_style_only_changes_the_picture_description():
    assert write(CHINESE_STORY) == write(CHINESE_STORY)
    realistic, anime = write(CHINESE_STORY, style="写实"), write(CHINESE_STORY, style="动漫")
    assert [s.narration for s in realistic] == [s.narration for s in anime]
    assert all("动漫" in shot.detail for shot in anime)


def test_tone_follows_the_words():
    tones = [
        shot.tone for shot in write("他突然听见身后传来尖叫，心跳得飞快。她哭着说再见，眼泪落在信上。", shot_count=2)
    ]
    assert tones == ["紧张", "悲伤"]


@pytest.mark.parametrize(
    "script,tone",
    [
        ("老人微笑着握住孙女的手，永远地闭上了眼睛。", "悲伤"),
        ("葬礼上，孩子们唱起了他最爱的歌。", "悲伤"),
        ("她并不开心。", "悲伤"),
        ("他一点也不害怕，静静地向前走去。", "平静"),
        ("At the funeral they sang and danced and laughed.", "sad"),
        ("He was not afraid of the storm.", "calm"),
        ("She was not happy at all.", "sad"),
    ],
)
def test_tone_weighs_death_and_negation(script: str, tone: str):
    assert write(script, shot_count=1)[0].tone == tone


def test_sentence_splitting_keeps_closing_quotes_and_honours_soft_wraps():
    assert split_sentences("他问：“你去哪儿？”她没有回答。") == ["他问：“你去哪儿？”", "她没有回答。"]
    assert split_sentences('He said "Stop!" and left. Dr. Who paid $3.50 today.') == [
        'He said "Stop!" and left.',
        "Dr. Who paid $3.50 today.",
    ]
    assert split_sentences("Wait... what?") == ["Wait...", "what?"]
    assert split_sentences("the river ran\nslowly to the sea.\nThen night fell") == [
        "the river ran slowly to the sea.",
        "Then night fell",
    ]


def test_cancelled_before_start_raises():
    ctx = StageContext(is_cancelled=lambda: True)
    request = StoryboardRequest(script=CHINESE_STORY, style="写实")
    with pytest.raises(OperationCancelled):
        asyncio.run(PreviewStoryboardWriter(max_shot_seconds=12.0).write(request, ctx))


def test_writer_satisfies_the_interface_and_is_ready():
    writer = PreviewStoryboardWriter(max_shot_seconds=12.0)
    assert isinstance(writer, StoryboardWriter)
    status = asyncio.run(writer.status())
    assert status.ready and status.backend == "preview" and status.model == writer.model


def test_the_cap_is_the_max_shot_seconds_setting(monkeypatch):
    monkeypatch.setenv("MAX_SHOT_SECONDS", "5")
    settings = Settings(_env_file=None)
    writer = preview_registry().entries[("storyboard", "preview")].factory(settings)
    assert writer.max_shot_seconds == 5.0
    request = StoryboardRequest(script=CHINESE_STORY, style="写实")
    shots = asyncio.run(writer.write(request, StageContext())).shots
    assert len(shots) > len(write(CHINESE_STORY)) and all(speaking_seconds(shot.narration) <= 5.0 for shot in shots)
    monkeypatch.setenv("MAX_SHOT_SECONDS", "1")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


def test_a_title_cut_inside_its_clause_ends_with_an_ellipsis_not_a_dangling_word():
    shots = write("Mrs. Smith found the great old house at the end of the lane.")
    assert [shot.subject for shot in shots] == ["Mrs. Smith found the great old house…"]
