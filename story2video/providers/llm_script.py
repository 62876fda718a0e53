"""The script contract every streaming LLM shares (Ollama, DashScope, ...): the prompts of each stage,
the validation of what comes back, and the bounded re-ask the storyboard writer uses.

A backend supplies only ``StreamChat``: the reply's text piece by piece as the model produces it.
Every piece goes to the caller's ``TextOut`` at once; a re-ask starts the part anew (``restart``).
Cancelling stops the consumption at once, which closes the request to the model.
"""

from __future__ import annotations

import json
import re
from typing import AsyncIterator, Callable, TypeVar

from loguru import logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from story2video.castfields import NARRATOR, CharacterFields
from story2video.errors import BackendError
from story2video.providers.base import (
    BackendStatus,
    CharacterDraft,
    EpisodePlan,
    ScenePromptRequest,
    ScriptRequest,
    StageContext,
    TextOut,
)
from story2video.providers.cancellable import cancellable
from story2video.scriptformat import scene_heading, split_scenes

StreamChat = Callable[[list[dict], bool], AsyncIterator[str]]  # (messages, JSON wanted) -> pieces of the reply
T = TypeVar("T")
RAW_REPLY_KEPT = 600
MAX_CAST = 12


class ReplyRejected(Exception):
    """The model's reply cannot be used; the message is fed back to the model."""


class CastReply(BaseModel):
    model_config = ConfigDict(extra="ignore")
    cast: list[CharacterFields] = Field(min_length=1, max_length=MAX_CAST)


class PlanReply(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    episode: int
    title: str = Field(min_length=1, max_length=120)
    summary: str = Field(min_length=1, max_length=2000)


class OutlineReply(BaseModel):
    model_config = ConfigDict(extra="ignore")
    episodes: list[PlanReply]


class PromptReply(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    scene: int
    prompt: str = Field(min_length=1, max_length=1500)


class ScenePromptsReply(BaseModel):
    model_config = ConfigDict(extra="ignore")
    prompts: list[PromptReply]


def _language_rule(language: str) -> str:
    return "Write everything in Simplified Chinese." if language == "zh" else "Write everything in English."


def _inputs(request: ScriptRequest) -> str:
    wanted = "\n".join(
        f"- {hint.name}" + "".join(f", {part}" for part in (hint.gender, hint.age, f"{hint.years} years old" if hint.years else "", hint.notes) if part)
        for hint in request.characters
    )
    return (
        f"Premise: {request.premise}\nGenre: {request.genre or 'any'}\nLength of one episode: {request.duration or 'about 3 minutes'}\n"
        f"Episodes: {request.episodes}\nVisual style: {request.style or 'unspecified'}\n"
        f"Characters asked for:\n{wanted or '- none: invent two to four'}"
    )


def _cast_text(cast: list[CharacterDraft]) -> str:
    return "\n".join(f"- {c.id}: {c.name} ({c.gender or '?'}, {c.age or '?'}): {c.appearance}" for c in cast)


def cast_messages(request: ScriptRequest) -> list[dict]:
    system = (
        "You are the head writer of a short drama series. First decide its cast: every character asked for, "
        "with the name exactly as given, plus at most a few more the story needs. For each give id (short, "
        "lowercase letters, digits and _), name, appearance (one fixed description used word for word in every "
        "picture: age, build, face, hair, clothes), gender (female, male or ''), age (child, young, adult, old or '') "
        f"and timbre (a few words about the voice). {_language_rule(request.language)} Reply with JSON only: "
        '{"cast": [{"id": "...", "name": "...", "appearance": "...", "gender": "...", "age": "...", "timbre": "..."}]}'
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": _inputs(request)}]


def outline_messages(request: ScriptRequest, cast: list[CharacterDraft]) -> list[dict]:
    system = (
        f"You are the head writer of a short drama series of exactly {request.episodes} episodes. Write its outline: "
        "for every episode a title and a summary of two to four sentences, so that the episodes build to one ending. "
        f"{_language_rule(request.language)} Reply with JSON only: "
        '{"episodes": [{"episode": 1, "title": "...", "summary": "..."}]}'
    )
    user = f"{_inputs(request)}\n\nCast:\n{_cast_text(cast)}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def episode_messages(request: ScriptRequest, cast: list[CharacterDraft], outline: list[EpisodePlan], number: int) -> list[dict]:
    example = scene_heading(1, "咖啡馆，清晨" if request.language == "zh" else "A café, early morning", request.language)
    system = (
        f"You write episode {number} of a short drama series as a script, scene by scene. Open every scene with a "
        f"heading line of exactly this form: {example} (numbered from 1, then the place and time), followed by the "
        "action and the dialogue, each spoken line as the character's name, a colon and the words in quotes. "
        f"Fit the episode's length ({request.duration or 'about 3 minutes'}). Use only the cast's names. "
        f"{_language_rule(request.language)} Reply with the script only."
    )
    plans = "\n".join(f"{plan.number}. {plan.title}: {plan.summary}" for plan in outline)
    user = f"{_inputs(request)}\n\nCast:\n{_cast_text(cast)}\n\nOutline:\n{plans}\n\nWrite episode {number} now."
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def scene_prompt_messages(request: ScenePromptRequest) -> list[dict]:
    scenes = split_scenes(request.text)
    system = (
        "You describe pictures for a text-to-image model. For every scene of the script write one picture "
        "description: the place, the light, who is there and what they do, framed as one still. Describe each "
        "character present with their fixed appearance. "
        f"{_language_rule(request.language)} Reply with JSON only: "
        f'{{"prompts": [{{"scene": 1, "prompt": "..."}}]}} with exactly {len(scenes)} entries, one per scene, in order.'
    )
    user = f"Visual style: {request.style or 'unspecified'}\n\nCast:\n{_cast_text(list(request.cast))}\n\nScript:\n{request.text}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


# ------------------------------------------------------------------ validation


def parse_cast(text: str, request: ScriptRequest) -> list[CharacterDraft]:
    reply = _model(CastReply, text)
    ids = [character.id for character in reply.cast]
    if len(set(ids)) != len(ids):
        raise ReplyRejected("two characters share an id")
    if NARRATOR in ids:
        raise ReplyRejected(f"'{NARRATOR}' is reserved and cannot be a character id")
    names = {character.name for character in reply.cast}
    missing = [hint.name for hint in request.characters if hint.name not in names]
    if missing:
        raise ReplyRejected(f"the cast lacks the characters asked for: {', '.join(missing)} (use the names exactly as given)")
    return [CharacterDraft(**character.model_dump()) for character in reply.cast]


def parse_outline(text: str, request: ScriptRequest) -> list[EpisodePlan]:
    reply = _model(OutlineReply, text)
    numbers = [plan.episode for plan in reply.episodes]
    if numbers != list(range(1, request.episodes + 1)):
        raise ReplyRejected(f"the outline must list episodes 1 to {request.episodes} in order, once each; it lists {numbers}")
    return [EpisodePlan(plan.episode, plan.title, plan.summary) for plan in reply.episodes]


def parse_episode(text: str, language: str) -> str:
    scenes = split_scenes(text)
    example = scene_heading(1, "…", language)
    if not scenes:
        raise ReplyRejected(f"the script has no scene headings: open every scene with a line like {example}")
    numbers = [scene.number for scene in scenes]
    if numbers != list(range(1, len(scenes) + 1)):
        raise ReplyRejected(f"the scenes must be numbered 1, 2, 3, … in order; they are numbered {numbers}")
    empty = [scene.number for scene in scenes if not scene.body]
    if empty:
        raise ReplyRejected(f"scenes {empty} have a heading but no text")
    return text.strip()


def parse_scene_prompts(text: str, request: ScenePromptRequest) -> list[str]:
    reply = _model(ScenePromptsReply, text)
    count = len(split_scenes(request.text))
    numbers = [prompt.scene for prompt in reply.prompts]
    if numbers != list(range(1, count + 1)):
        raise ReplyRejected(f"there must be exactly {count} prompts for scenes 1 to {count} in order; there are {numbers}")
    return [prompt.prompt for prompt in reply.prompts]


def _model(model: type[BaseModel], text: str):
    try:
        data = json.loads(_strip_code_fence(text))
    except json.JSONDecodeError as error:
        raise ReplyRejected(f"the reply is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})") from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        raise ReplyRejected(f"the JSON does not match the schema: {where}: {first.get('msg', 'invalid')}") from None


def _strip_code_fence(text: str) -> str:
    match = re.fullmatch(r"\s*```(?:json)?\s*(.*?)\s*```\s*", text, flags=re.DOTALL)
    return match.group(1) if match else text.strip()


# ------------------------------------------------------------------ streaming and re-asking


async def stream_into(chat: StreamChat, messages: list[dict], json_output: bool, out: TextOut, ctx: StageContext) -> str:
    """The whole reply, each piece handed to ``out`` as it comes; a cancel closes the stream at once."""
    pieces: list[str] = []

    async def consume() -> None:
        stream = chat(messages, json_output)
        try:
            async for piece in stream:
                if piece:
                    pieces.append(piece)
                    out.write(piece)
        finally:
            await stream.aclose()

    await cancellable(consume(), ctx)
    return "".join(pieces)


async def ask_until_valid(
    chat: StreamChat,
    messages: list[dict],
    parse: Callable[[str], T],
    out: TextOut,
    ctx: StageContext,
    *,
    json_output: bool,
    attempts: int,
    backend: str,
    part: str,
) -> T:
    """Stream a reply, validate it, and re-ask with the problem stated, at most ``attempts`` times."""
    problem, reply = "", ""
    for attempt in range(1, attempts + 1):
        ctx.raise_if_cancelled()
        if attempt > 1:
            out.restart()
        reply = await stream_into(chat, messages, json_output, out, ctx)
        try:
            return parse(reply)
        except ReplyRejected as rejected:
            problem = str(rejected)
        logger.warning("script {} reply {}/{} from {} rejected: {}", part, attempt, attempts, backend, problem)
        again = "Reply again with JSON only." if json_output else "Write it again."
        messages = [
            *messages,
            {"role": "assistant", "content": reply},
            {"role": "user", "content": f"That reply cannot be used: {problem}. {again}"},
        ]
    raise BackendError(
        f"the {backend} script model gave no usable {part} in {attempts} attempts; last problem: {problem}; "
        f"last reply began: {reply[:RAW_REPLY_KEPT]!r}",
        backend=backend,
    )


class LlmScriptWriter:
    """A script writer over any streaming chat: the provider packages build it with their own."""

    def __init__(self, chat: StreamChat, *, backend: str, model: str, attempts: int, status: Callable[[], "object"]):
        self._chat = chat
        self.backend = backend
        self.model = model
        self._attempts = attempts
        self._status = status

    async def _ask(self, messages: list[dict], parse: Callable[[str], T], out: TextOut, ctx: StageContext, *, json_output: bool, part: str) -> T:
        return await ask_until_valid(
            self._chat, messages, parse, out, ctx, json_output=json_output, attempts=self._attempts, backend=self.backend, part=part
        )

    async def write_cast(self, request: ScriptRequest, out: TextOut, ctx: StageContext) -> list[CharacterDraft]:
        return await self._ask(cast_messages(request), lambda text: parse_cast(text, request), out, ctx, json_output=True, part="cast")

    async def write_outline(self, request: ScriptRequest, cast: list[CharacterDraft], out: TextOut, ctx: StageContext) -> list[EpisodePlan]:
        messages = outline_messages(request, cast)
        return await self._ask(messages, lambda text: parse_outline(text, request), out, ctx, json_output=True, part="outline")

    async def write_episode(
        self, request: ScriptRequest, cast: list[CharacterDraft], outline: list[EpisodePlan], number: int, out: TextOut, ctx: StageContext
    ) -> str:
        messages = episode_messages(request, cast, outline, number)
        return await self._ask(
            messages, lambda text: parse_episode(text, request.language), out, ctx, json_output=False, part=f"episode {number}"
        )

    async def write_scene_prompts(self, request: ScenePromptRequest, out: TextOut, ctx: StageContext) -> list[str]:
        messages = scene_prompt_messages(request)
        return await self._ask(
            messages, lambda text: parse_scene_prompts(text, request), out, ctx, json_output=True, part="scene prompts"
        )

    async def status(self) -> BackendStatus:
        return await self._status()
