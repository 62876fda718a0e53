"""The one picture-prompt wording every image backend uses."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from dataclasses import replace
from typing import Iterator

import pytest

from app_api.dashscope.backends import DashScopeKit
from app_api.volcengine import VolcengineImageGenerator
from app_local.comfy import build_image_generator
from story2video.media.ffmpeg import locate_ffmpeg
from story2video.providers.base import CharacterLook, ImageRequest, StageContext
from story2video.providers.picture_prompt import picture_prompt
from tests.conftest import small_settings
from tests.fakes.ark import FakeArk
from tests.fakes.comfy_support import comfy_settings, fake_comfy_hosts
from tests.fakes.comfyui import FakeComfyUI
from tests.fakes.dashscope import FakeDashScope

ZHANG_EN = CharacterLook("Zhang Ming", "a 28-year-old man, slim, short black hair, grey hoodie")
LI_EN = CharacterLook("Li Hua", "a woman in her sixties, round face, silver bun, blue apron")
ZHANG_ZH = CharacterLook("张明", "28岁男子，身形偏瘦，黑色短发，穿灰色连帽衫")
LI_ZH = CharacterLook("李华", "六十多岁的妇人，圆脸，银发挽髻，系蓝色围裙")


def english(**fields) -> ImageRequest:
    values = dict(prompt="Two people share noodles in a small shop at night", subject="noodle shop", narration="",
                  style="watercolor", width=320, height=180, seed=1, characters=(ZHANG_EN, LI_EN))
    return ImageRequest(**{**values, **fields})


def chinese(**fields) -> ImageRequest:
    values = dict(prompt="夜里，两人在小面馆里分吃一碗面", subject="小面馆", narration="", style="水彩",
                  width=320, height=180, seed=1, characters=(ZHANG_ZH, LI_ZH))
    return ImageRequest(**{**values, **fields})


def test_an_english_shot_reads_detail_characters_then_style():
    assert picture_prompt(english()).text == (
        "Two people share noodles in a small shop at night. noodle shop. "
        "Zhang Ming: a 28-year-old man, slim, short black hair, grey hoodie. "
        "Li Hua: a woman in her sixties, round face, silver bun, blue apron. Style: watercolor."
    )


def test_a_chinese_shot_is_punctuated_and_labelled_in_chinese():
    assert picture_prompt(chinese()).text == (
        "夜里，两人在小面馆里分吃一碗面。张明：28岁男子，身形偏瘦，黑色短发，穿灰色连帽衫。"
        "李华：六十多岁的妇人，圆脸，银发挽髻，系蓝色围裙。风格：水彩。"
    )  # the subject stands in the detail already, so it is not repeated


def test_each_appearance_stands_verbatim_in_every_shot_it_is_in():
    shots = [
        english(prompt="Zhang Ming waits at the bus stop in the rain", subject="bus stop", characters=(ZHANG_EN,)),
        english(prompt="He runs up the stairs!", subject="", style="", characters=(ZHANG_EN, LI_EN)),
        chinese(prompt="张明推开门", subject="", characters=(ZHANG_EN,)),
    ]
    for shot in shots:
        assert ZHANG_EN.appearance in picture_prompt(shot).text
    assert "He runs up the stairs! Zhang Ming: a 28-year-old man" in picture_prompt(shots[1]).text  # no doubled stop
    assert f"张明推开门。Zhang Ming：{ZHANG_EN.appearance}。" in picture_prompt(shots[2]).text


def test_an_appearance_is_copied_as_written_even_with_its_own_punctuation():
    look = CharacterLook("Ada", "  tall; red coat, green scarf.  ")
    text = picture_prompt(english(characters=(look, look))).text
    assert text.count("Ada: tall; red coat, green scarf.") == 1  # listed once, its own full stop kept
    assert "scarf.." not in text


def test_a_character_without_an_appearance_adds_nothing():
    assert picture_prompt(english(characters=(CharacterLook("Nobody", " "),))).text == picture_prompt(english(characters=())).text


def test_the_subject_is_added_only_when_the_detail_lacks_it():
    assert picture_prompt(english(subject="Small Shop", characters=(), style="")).text == (
        "Two people share noodles in a small shop at night."
    )
    assert picture_prompt(english(subject="lantern", characters=(), style="")).text == (
        "Two people share noodles in a small shop at night. lantern."
    )


def test_the_negative_joins_the_requests_the_backends_and_no_lettering_when_subtitled():
    plain = picture_prompt(english(negative_prompt="blurry"), "low quality")
    assert plain.negative == "blurry, low quality"
    subtitled = picture_prompt(english(negative_prompt="blurry", subtitled=True), "low quality")
    assert subtitled.negative == "blurry, low quality, text, letters, captions, subtitles, watermark"
    assert picture_prompt(chinese(subtitled=True)).negative == "文字，字母，字幕，水印"
    assert picture_prompt(english()).negative == ""


def test_a_backend_without_a_negative_input_gets_it_as_a_closing_sentence():
    worded = picture_prompt(english(subtitled=True))
    assert worded.for_backend(takes_negative=True) == (worded.text, worded.negative)
    assert worded.for_backend(takes_negative=False) == (f"{worded.text} Avoid: {worded.negative}.", "")
    zh = picture_prompt(chinese(subtitled=True))
    assert zh.inline == f"{zh.text}避免：文字，字母，字幕，水印。"
    nothing_to_avoid = picture_prompt(english())
    assert nothing_to_avoid.inline == nothing_to_avoid.text


@pytest.fixture
def servers(tmp_path) -> Iterator[tuple[FakeDashScope, FakeArk, FakeComfyUI]]:
    """A started fake DashScope, Volcengine Ark and ComfyUI."""
    with ExitStack() as stack:
        dashscope, ark = FakeDashScope(locate_ffmpeg()).start(), FakeArk().start()
        stack.callback(dashscope.stop)
        stack.callback(ark.stop)
        yield dashscope, ark, stack.enter_context(fake_comfy_hosts(tmp_path))()


@pytest.mark.parametrize("make", [english, chinese], ids=["english", "chinese"])
def test_every_cloud_and_comfy_backend_receives_the_same_wording(make, tmp_path, servers):
    """The prompt each fake server received is the builder's, character looks and all; only the
    backend's own negative prompt (here the workflow's) differs, and Ark, which has no negative
    input, gets the negative as a closing sentence."""
    dashscope, ark, comfy = servers
    request = make(subtitled=True, width=160, height=90)
    worded = picture_prompt(request)
    kit = DashScopeKit(small_settings(tmp_path, **dashscope.settings()))
    asyncio.run(kit.image().generate(request, tmp_path / "dashscope.png", StageContext()))
    body = dashscope.paths("/api/v1/services/aigc/text2image")[0].body["input"]
    assert (body["prompt"], body["negative_prompt"]) == (worded.text, worded.negative)

    volcengine = VolcengineImageGenerator(small_settings(tmp_path, **ark.settings()))
    result = asyncio.run(volcengine.generate(request, tmp_path / "ark.png", StageContext()))
    assert ark.requests[0]["prompt"] == worded.inline == result.actual_prompt
    assert "negative_prompt" not in ark.requests[0]

    asyncio.run(build_image_generator(comfy_settings(tmp_path, comfy)).generate(request, tmp_path / "comfy.png", StageContext()))
    graph = comfy.prompts[0]["prompt"]
    assert graph["3"]["inputs"]["value"] == worded.text
    assert graph["4"]["inputs"]["value"] == picture_prompt(request, "a placeholder negative prompt").negative
    for character in request.characters:
        assert character.appearance in body["prompt"] and character.appearance in graph["3"]["inputs"]["value"]


def test_the_wording_does_not_depend_on_anything_a_backend_sets():
    request = english(subtitled=True)
    assert picture_prompt(request).text == picture_prompt(replace(request, width=1920, height=1080, seed=99)).text
    assert picture_prompt(request, "low quality").text == picture_prompt(request).text
