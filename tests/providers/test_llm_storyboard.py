from __future__ import annotations

import asyncio
import json

import pytest

from story2video.errors import BackendError
from story2video.providers.base import StageContext, StoryboardRequest
from story2video.providers.llm_storyboard import ReplyRejected, parse_reply, reply_schema, write_with_llm

REQUEST = StoryboardRequest(script="清晨，她推开窗。河上漂着纸船。", style="写实", min_shots=2, max_shots=3)


def shot(n: int) -> dict:
    return {"subject": f"主题{n}", "detail": f"细节{n}", "camera": "远景", "narration": f"旁白{n}", "tone": "平静"}


def reply(count: int) -> str:
    return json.dumps({"shots": [shot(n) for n in range(count)]}, ensure_ascii=False)


class ScriptedChat:
    def __init__(self, *replies: str):
        self.replies = list(replies)
        self.seen: list[list[dict]] = []

    async def __call__(self, messages):
        self.seen.append(messages)
        return self.replies.pop(0)


def test_valid_reply_in_a_code_fence_is_accepted():
    drafts = parse_reply("```json\n" + reply(2) + "\n```", REQUEST).shots
    assert [d.subject for d in drafts] == ["主题0", "主题1"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json at all", "not valid JSON"),
        ('{"shots": [{"subject": "a"}]}', "shots.0.detail"),
        (json.dumps({"shots": [{**shot(0), "tone": "  "}, shot(1)]}), "shots.0.tone"),
        (reply(5), "5 shots but between 2 and 3"),
    ],
)
def test_unusable_replies_say_what_is_wrong(text, problem):
    with pytest.raises(ReplyRejected) as rejected:
        parse_reply(text, REQUEST)
    assert problem in str(rejected.value)


def test_bad_reply_is_reasked_with_the_problem_then_accepted():
    chat = ScriptedChat("{oops", reply(1), reply(3))
    drafts = asyncio.run(write_with_llm(chat, REQUEST, StageContext(), backend="fake", attempts=3)).shots
    assert len(drafts) == 3
    assert "not valid JSON" in chat.seen[1][-1]["content"]
    assert "1 shots but between 2 and 3" in chat.seen[2][-1]["content"]
    assert chat.seen[2][-2] == {"role": "assistant", "content": reply(1)}


def test_gives_up_after_bounded_attempts_keeping_the_raw_reply():
    chat = ScriptedChat("nope 1", "nope 2")
    with pytest.raises(BackendError) as failed:
        asyncio.run(write_with_llm(chat, REQUEST, StageContext(), backend="fake", attempts=2))
    assert "2 attempts" in failed.value.message and "nope 2" in failed.value.message
    assert failed.value.backend == "fake"


def test_exact_count_is_in_prompt_and_schema_names_the_fields():
    chat = ScriptedChat(reply(4))
    exact = StoryboardRequest(script="x", style="水墨", shot_count=4)
    asyncio.run(write_with_llm(chat, exact, StageContext(), backend="fake", attempts=1))
    assert "exactly 4 shots" in chat.seen[0][-1]["content"] and "水墨" in chat.seen[0][-1]["content"]
    shot_schema = reply_schema()["$defs"]["ShotReply"]
    assert set(shot_schema["required"]) == {"subject", "detail", "camera", "narration", "tone"}
    assert {"characters", "lines"} <= set(shot_schema["properties"])
    assert set(reply_schema()["$defs"]["CharacterFields"]["required"]) == {"id", "name", "appearance"}
