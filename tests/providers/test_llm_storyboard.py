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


CAST = [{"id": "lin", "name": "林夏", "appearance": "十六岁的少女，短发，蓝色校服", "gender": "female", "age": "young", "timbre": "清亮"}]


def cast_reply(lines: list[dict], characters: list[str], cast: list[dict] = CAST) -> str:
    first = {**shot(0), "narration": "“早上好。”林夏说。", "characters": characters, "lines": lines}
    return json.dumps({"cast": cast, "shots": [first, shot(1)]}, ensure_ascii=False)


def test_a_reply_with_a_cast_gives_characters_and_lines_with_speakers():
    lines = [{"speaker": "lin", "text": "早上好。"}, {"speaker": "narrator", "text": "林夏说。"}]
    board = parse_reply(cast_reply(lines, ["lin"]), REQUEST)
    assert [(c.id, c.name, c.gender) for c in board.cast] == [("lin", "林夏", "female")]
    assert board.shots[0].characters == ("lin",)
    assert [(line.speaker, line.text) for line in board.shots[0].lines] == [("lin", "早上好。"), ("narrator", "林夏说。")]
    assert board.shots[1].lines == () and board.cast[0].appearance == CAST[0]["appearance"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (cast_reply([{"speaker": "ghost", "text": "“早上好。”林夏说。"}], []), "shot 1: line speaker 'ghost'"),
        (cast_reply([{"speaker": "lin", "text": "早上好。"}], ["lin"]), "shot 1: the lines together do not say exactly"),
        (cast_reply([], ["nobody"]), "shot 1: characters ['nobody'] are not in the cast"),
        (cast_reply([], [], cast=[*CAST, CAST[0]]), "two characters of the cast share an id"),
        (cast_reply([], [], cast=[{**CAST[0], "id": "narrator"}]), "'narrator' is reserved"),
        (cast_reply([], [], cast=[{**CAST[0], "appearance": ""}]), "cast.0.appearance"),
    ],
)
def test_a_cast_that_does_not_hold_together_is_sent_back(text, problem):
    with pytest.raises(ReplyRejected) as rejected:
        parse_reply(text, REQUEST)
    assert problem in str(rejected.value)
