from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from story2video.providers.base import SpeechRequest, StageContext
from story2video.providers.preview.speech import EspeakSpeechSynthesizer
from story2video.providers.preview.text import speaking_seconds, split_sentences
from tests.providers.preview.stories import LONG_CHINESE_STORY


@pytest.mark.parametrize(
    "text,sentences",
    [
        ("“老周，今天的汤怎么这么香？”她笑着问道。老周点点头。", ["“老周，今天的汤怎么这么香？”她笑着问道。", "老周点点头。"]),
        ("“我……我没有钱。”年轻人小声说。", ["“我……我没有钱。”年轻人小声说。"]),
        ("“进来吧，外面冷。”老周喊道。年轻人愣了一下。", ["“进来吧，外面冷。”老周喊道。", "年轻人愣了一下。"]),
        ("「你去哪儿？」他问。", ["「你去哪儿？」他问。"]),
        ("他问：“你去哪儿？”她没有回答。", ["他问：“你去哪儿？”", "她没有回答。"]),  # a reply, not an attribution
        ("小川拍着手大声喊：“再高一点！”老周拉着线。", ["小川拍着手大声喊：“再高一点！”", "老周拉着线。"]),
        ("“你好。”“我叫小川。”他说。", ["“你好。”", "“我叫小川。”他说。"]),  # 叫 here is no attribution
        ('"Where?" she asked. The boy shrugged.', ['"Where?" she asked.', "The boy shrugged."]),
        ('"Go!" Tom shouted. Nobody moved.', ['"Go!" Tom shouted.', "Nobody moved."]),
        ('"I know." she said.', ['"I know." she said.']),
        ('"Well... maybe," he said.', ['"Well... maybe," he said.']),
        ('"Help!" The door slammed.', ['"Help!"', "The door slammed."]),
        ("Wait... what?", ["Wait...", "what?"]),
    ],
)
def test_a_quotation_stays_with_its_attribution(text: str, sentences: list[str]):
    assert split_sentences(text) == sentences


def _espeak_seconds(tmp_path: Path, text: str) -> float:
    request = SpeechRequest(text=text)
    result = asyncio.run(EspeakSpeechSynthesizer().synthesize(request, tmp_path / "speech.wav", StageContext()))
    return result.duration


@pytest.mark.parametrize(
    "text",
    [
        LONG_CHINESE_STORY.split("\n\n")[0],
        "小猫醒了。它吃了一条鱼。",
        "One winter evening, a storm rolled in from the north. The waves crashed against the rocks, and the wind "
        "screamed through the broken windows.",
        "我今天用iPhone拍了一张照片，发给了Tom。他回复说：Nice shot! 我们都笑了。",
    ],
)
def test_the_speaking_time_estimate_matches_the_preview_speech(tmp_path: Path, text: str):
    assert speaking_seconds(text) == pytest.approx(_espeak_seconds(tmp_path, text), rel=0.2)
