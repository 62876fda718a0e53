"""The preview script writer: offline, the same script from the same seed, Chinese and English."""

from __future__ import annotations

import asyncio

from story2video.providers.base import CharacterHint, ScenePromptRequest, ScriptRequest, StageContext
from story2video.providers.preview.script import PreviewScriptWriter
from story2video.scriptformat import split_scenes


class Out:
    def __init__(self):
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def restart(self) -> None:
        self.text = ""


def _request(language="zh", seed=5, episodes=3, characters=(CharacterHint("张明", "male", "young", 28), CharacterHint("李婷", "female"))):
    premise = "实习生在公司里揭开秘密" if language == "zh" else "a rookie reporter uncovers a scandal"
    return ScriptRequest(premise, "都市职场" if language == "zh" else "drama", "3分钟", episodes, characters, "写实", language, seed)


def _write(request: ScriptRequest) -> tuple[list, list, list[str]]:
    writer = PreviewScriptWriter()

    async def run():
        cast = await writer.write_cast(request, Out(), StageContext())
        outline = await writer.write_outline(request, cast, Out(), StageContext())
        episodes = [await writer.write_episode(request, cast, outline, n, Out(), StageContext()) for n in range(1, request.episodes + 1)]
        return cast, outline, episodes

    return asyncio.run(run())


def test_same_seed_same_script_other_seed_other_script():
    assert _write(_request(seed=5)) == _write(_request(seed=5))
    assert _write(_request(seed=5))[2] != _write(_request(seed=6))[2]


def test_chinese_script_keeps_the_cast_asked_for_and_has_scenes():
    cast, outline, episodes = _write(_request())
    assert [c.name for c in cast] == ["张明", "李婷"] and cast[0].gender == "male" and cast[0].age == "young"
    assert [p.number for p in outline] == [1, 2, 3] and all(p.title and p.summary for p in outline)
    assert "实习生在公司里揭开秘密" in outline[0].summary
    for text in episodes:
        scenes = split_scenes(text)
        assert len(scenes) == 3 and all(s.body for s in scenes)  # "3分钟": three scenes
        assert "【场景1】" in text and any(c.name in text for c in cast)


def test_english_script_invents_a_cast_when_none_is_asked_for():
    cast, outline, episodes = _write(_request(language="en", characters=()))
    assert len(cast) == 2 and all(c.appearance for c in cast)
    assert all(text.startswith("[Scene 1]") for text in episodes)
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in "".join(episodes))


def test_streamed_text_is_the_returned_text_and_scene_prompts_match_scenes():
    request = _request(episodes=1)
    writer = PreviewScriptWriter()
    out = Out()

    async def run():
        cast = await writer.write_cast(request, Out(), StageContext())
        outline = await writer.write_outline(request, cast, Out(), StageContext())
        text = await writer.write_episode(request, cast, outline, 1, out, StageContext())
        prompts = await writer.write_scene_prompts(ScenePromptRequest(1, text, tuple(cast), "写实", "zh"), Out(), StageContext())
        return cast, text, prompts

    cast, text, prompts = asyncio.run(run())
    assert out.text == text
    assert len(prompts) == len(split_scenes(text))
    assert all(p.startswith("写实") for p in prompts) and any(cast[0].appearance in p for p in prompts)
