"""The streaming script writers against a fake speaking Ollama's NDJSON stream and DashScope's
OpenAI-compatible SSE stream: text in order, validation with re-asks, cancel closing the request."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from app_api.dashscope.backends import DashScopeKit
from app_local.ollama import ollama_script_writer
from story2video.config import Settings
from story2video.errors import BackendError, BackendUnavailable, OperationCancelled
from story2video.providers.base import CharacterHint, ScenePromptRequest, ScriptRequest, StageContext
from tests.fakes.streaming_chat import KEY, FakeStreamingChat

CAST = {"cast": [
    {"id": "zhang_ming", "name": "张明", "appearance": "二十八岁的男人，短发，灰色西装", "gender": "male", "age": "young", "timbre": "沉稳"},
    {"id": "li_ting", "name": "李婷", "appearance": "二十五岁的女人，马尾，白衬衫", "gender": "female", "age": "young", "timbre": "清亮"},
]}  # fmt: skip
EPISODE = "【场景1】写字楼，清晨\n张明：“早。”\n\n【场景2】天台，黄昏\n李婷：“我们一起面对。”"
REQUEST = ScriptRequest(
    premise="实习生逆袭", genre="都市职场", duration="3分钟", episodes=2,
    characters=(CharacterHint("张明", "male", "young", 28), CharacterHint("李婷", "female", "young", 25)),
    style="写实", language="zh", seed=1,
)  # fmt: skip


class Collected:
    def __init__(self):
        self.pieces: list[str] = []
        self.restarts = 0

    def write(self, text: str) -> None:
        self.pieces.append(text)

    def restart(self) -> None:
        self.restarts += 1
        self.pieces = []


@pytest.fixture
def fake():
    server = FakeStreamingChat(piece_chars=4).start()
    yield server
    server.stop()


def _writers(fake: FakeStreamingChat):
    settings = Settings(_env_file=None, ollama_url=fake.url, ollama_model="qwen2.5:7b", script_attempts=2,
                        dashscope_api_key=KEY, dashscope_base_url=fake.url, dashscope_chat_model="qwen-plus")  # fmt: skip
    return {"ollama": ollama_script_writer(settings), "dashscope": DashScopeKit(settings).script()}


@pytest.mark.parametrize("backend", ["ollama", "dashscope"])
def test_cast_streams_in_pieces_and_is_validated(fake, backend):
    writer = _writers(fake)[backend]
    reply = json.dumps(CAST, ensure_ascii=False)
    fake.reply_with(reply)
    out = Collected()
    cast = asyncio.run(writer.write_cast(REQUEST, out, StageContext()))
    assert [c.name for c in cast] == ["张明", "李婷"] and cast[0].gender == "male"
    assert len(out.pieces) > 5 and "".join(out.pieces) == reply  # many pieces, in order, nothing lost
    assert fake.requests[0]["stream"] is True
    if backend == "ollama":
        assert fake.requests[0]["format"] == "json"
    else:
        assert fake.requests[0]["response_format"] == {"type": "json_object"} and fake.requests[0]["enable_thinking"] is False


@pytest.mark.parametrize("backend", ["ollama", "dashscope"])
def test_a_cast_without_a_character_asked_for_is_asked_again(fake, backend):
    writer = _writers(fake)[backend]
    short = {"cast": CAST["cast"][:1]}
    fake.reply_with(json.dumps(short, ensure_ascii=False), json.dumps(CAST, ensure_ascii=False))
    out = Collected()
    cast = asyncio.run(writer.write_cast(REQUEST, out, StageContext()))
    assert len(cast) == 2 and out.restarts == 1
    assert "".join(out.pieces) == json.dumps(CAST, ensure_ascii=False)  # the rejected text was dropped
    re_ask = fake.requests[1]["messages"][-1]["content"]
    assert "李婷" in re_ask and "cannot be used" in re_ask


def test_an_episode_without_scene_headings_is_rejected_and_the_error_says_so(fake):
    writer = _writers(fake)["ollama"]
    fake.reply_with("张明走进办公室。", "还是没有场景。")
    with pytest.raises(BackendError, match="no scene headings"):
        asyncio.run(writer.write_episode(REQUEST, [], [], 1, Collected(), StageContext()))
    assert len(fake.requests) == 2


def test_episode_and_scene_prompts(fake):
    writer = _writers(fake)["dashscope"]
    prompts = {"prompts": [{"scene": 1, "prompt": "清晨的写字楼"}, {"scene": 2, "prompt": "黄昏的天台"}]}
    fake.reply_with(EPISODE, json.dumps({"prompts": prompts["prompts"][:1]}), json.dumps(prompts, ensure_ascii=False))
    assert asyncio.run(writer.write_episode(REQUEST, [], [], 1, Collected(), StageContext())) == EPISODE
    request = ScenePromptRequest(1, EPISODE, (), "写实", "zh")
    assert asyncio.run(writer.write_scene_prompts(request, Collected(), StageContext())) == ["清晨的写字楼", "黄昏的天台"]
    assert "exactly 2 prompts" in fake.requests[2]["messages"][-1]["content"]


@pytest.mark.parametrize("backend", ["ollama", "dashscope"])
def test_cancel_closes_the_request_to_the_model_at_once(fake, backend):
    writer = _writers(fake)[backend]
    fake.hold_at = 20  # the model goes quiet in the middle of the episode
    fake.reply_with(EPISODE * 5)
    cancelled = threading.Event()
    out = Collected()

    def cancel_when_held():
        fake.holding.wait(10)
        cancelled.set()

    threading.Thread(target=cancel_when_held, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(OperationCancelled):
        asyncio.run(writer.write_episode(REQUEST, [], [], 1, out, StageContext(is_cancelled=cancelled.is_set)))
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 5
    while fake.closed_early == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.closed_early == 1 and fake.finished == 0  # the fake saw its client leave mid-reply
    assert "".join(out.pieces) == (EPISODE * 5)[:20]  # what came before the cancel was handed on


@pytest.mark.parametrize("backend", ["ollama", "dashscope"])
def test_a_failure_in_the_middle_of_the_stream_is_an_error(fake, backend):
    writer = _writers(fake)[backend]
    fake.broken_after[0] = 8
    fake.reply_with(EPISODE)
    with pytest.raises(BackendError):
        asyncio.run(writer.write_episode(REQUEST, [], [], 1, Collected(), StageContext()))


def test_unknown_model_and_rejected_key_say_what_to_fix(fake):
    settings = Settings(_env_file=None, ollama_url=fake.url, ollama_model="missing:1b")
    with pytest.raises(BackendUnavailable, match="ollama pull missing:1b"):
        asyncio.run(ollama_script_writer(settings).write_cast(REQUEST, Collected(), StageContext()))
    settings = Settings(_env_file=None, dashscope_api_key="sk-wrong", dashscope_base_url=fake.url)
    with pytest.raises(BackendUnavailable, match="DASHSCOPE_API_KEY was rejected"):
        asyncio.run(DashScopeKit(settings).script().write_cast(REQUEST, Collected(), StageContext()))
