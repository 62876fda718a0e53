"""Storyboards from Qwen over the OpenAI-compatible chat endpoint, through the shared contract."""

from __future__ import annotations

import asyncio

import pytest

from story2video.errors import BackendError
from story2video.providers.base import StageContext, StoryboardRequest
from tests.conftest import CHINESE_SCRIPT


def write(kit, **changes):
    request = StoryboardRequest(script=CHINESE_SCRIPT, style="写实", **changes)
    return asyncio.run(kit.storyboard().write(request, StageContext())).shots


def test_writes_shots_in_json_mode(kit, dashscope):
    drafts = write(kit)
    assert 4 <= len(drafts) <= 10
    assert "林夏" in "".join(d.narration for d in drafts)
    call = dashscope.paths("/compatible-mode/v1/chat/completions")[0]
    assert call.body["model"] == "qwen-plus"
    assert call.body["response_format"] == {"type": "json_object"}
    assert "json" in call.body["messages"][0]["content"].lower()
    assert call.headers["authorization"] == f"Bearer {dashscope.api_key}"


def test_an_unusable_reply_is_asked_again_with_the_problem(kit, dashscope):
    dashscope.chat_replies.append("Sure! Here is your storyboard: shots...")
    drafts = write(kit, shot_count=5)
    assert len(drafts) == 5
    calls = dashscope.paths("/compatible-mode/v1/chat/completions")
    assert len(calls) == 2
    assert "not valid JSON" in calls[1].body["messages"][-1]["content"]


def test_gives_up_after_the_configured_attempts(cloud_settings, dashscope):
    from app_api.dashscope.backends import DashScopeKit

    dashscope.chat_replies += ['{"shots": []}'] * 2
    with pytest.raises(BackendError) as caught:
        write(DashScopeKit(cloud_settings(dashscope_storyboard_attempts=2)))
    assert "no usable reply in 2 attempts" in caught.value.message
    assert len(dashscope.paths("/compatible-mode/v1/chat/completions")) == 2


def test_a_qwen3_thinking_model_is_called_with_thinking_off(cloud_settings, dashscope):
    from app_api.dashscope.backends import DashScopeKit

    drafts = write(DashScopeKit(cloud_settings(dashscope_chat_model="qwen3-235b-a22b")), shot_count=4)
    assert len(drafts) == 4  # the fake refuses a non-streamed Qwen3 call that leaves thinking on
    assert dashscope.paths("/compatible-mode/v1/chat/completions")[0].body["enable_thinking"] is False
