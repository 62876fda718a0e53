"""The storyboard contract every LLM writer shares (Ollama, DashScope, ...): one prompt, one JSON
schema, one validation path, and a bounded re-ask loop that tells the model what was wrong."""

from __future__ import annotations

import json
import re
from typing import Awaitable, Callable

from loguru import logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from story2video.castfields import NARRATOR, CharacterFields, CharacterId, LineFields, characters_problem, lines_problem
from story2video.errors import BackendError
from story2video.providers.base import CharacterDraft, Line, ShotDraft, StageContext, Storyboard, StoryboardRequest
from story2video.shotfields import ShotFields

Chat = Callable[[list[dict]], Awaitable[str]]
RAW_REPLY_KEPT = 600  # characters of the last raw reply quoted in the final error

_SYSTEM_PROMPT = """You are a storyboard artist for short narrated videos.
First list the story's cast: every character who appears or speaks, each with
- id: a short lowercase id (letters, digits, _), e.g. "zhang_ming", "tom";
- name: as the script names them;
- appearance: one fixed description of how they look, used word for word in every picture of them:
  age, build, face, hair and clothes (e.g. "a 28-year-old man, slim, square jaw, short black hair,
  grey hoodie and jeans"); invent what the script leaves open, but never contradict it;
- gender ("female", "male" or ""), age ("child", "young", "adult", "old" or "") and timbre (a few
  words about the voice, e.g. "warm, low") as hints for choosing a voice.
A story with no characters has an empty cast.
Then split the user's script into shots. For every shot give:
- subject: a short title of what the shot is about (at most 16 Chinese characters or 6 English words);
- detail: a vivid description of the picture for a text-to-image model, in the requested visual style;
- camera: shot size and camera movement (e.g. "wide shot, slow push in" / "远景，镜头缓缓推近");
- narration: the words spoken over the shot, copied from the script in order, so that all shots
  together narrate the whole script without adding or dropping sentences;
- tone: the mood in one word (e.g. calm, tense, joyful, sad, mysterious, warm / 平静, 紧张, 欢快);
- characters: the ids of the cast members the picture shows;
- lines: the narration cut in order into what each speaker says: a character's quoted words are
  spoken by that character's id, everything else by "narrator"; together the lines are exactly the
  narration.
Write subject, camera, narration, tone, names and lines in the script's language.
Reply with JSON only, exactly of this form: {"cast": [{"id": "...", "name": "...", "appearance":
"...", "gender": "...", "age": "...", "timbre": "..."}], "shots": [{"subject": "...", "detail": "...",
"camera": "...", "narration": "...", "tone": "...", "characters": ["..."], "lines": [{"speaker":
"narrator", "text": "..."}]}]}"""


class ShotReply(ShotFields):
    characters: list[CharacterId] = Field(default_factory=list)
    lines: list[LineFields] = Field(default_factory=list)


class StoryboardReply(BaseModel):
    model_config = ConfigDict(extra="ignore")

    cast: list[CharacterFields] = Field(default_factory=list)
    shots: list[ShotReply]


class ReplyRejected(Exception):
    """The model's reply cannot be used; the message is fed back to the model."""


def reply_schema() -> dict:
    """The JSON schema of a valid reply (Ollama's ``format``, structured-output modes)."""
    return StoryboardReply.model_json_schema()


def count_rule(request: StoryboardRequest) -> str:
    if request.shot_count is not None:
        return f"exactly {request.shot_count} shots"
    return f"between {request.min_shots} and {request.max_shots} shots"


def build_messages(request: StoryboardRequest) -> list[dict]:
    style = request.style or "the script's own mood"
    user = f"Visual style: {style}\nNumber of shots: {count_rule(request)}\n\nScript:\n{request.script}"
    if request.cast:
        fixed = "\n".join(
            json.dumps({"id": c.id, "name": c.name, "appearance": c.appearance, "gender": c.gender, "age": c.age, "timbre": c.timbre}, ensure_ascii=False)
            for c in request.cast
        )
        user += (
            "\n\nThe cast is fixed: list these characters exactly as given (same id, name, appearance and voice hints) "
            f"when the script shows or voices them, and add others only for people not among them:\n{fixed}"
        )
    return [{"role": "system", "content": _SYSTEM_PROMPT}, {"role": "user", "content": user}]


def parse_reply(text: str, request: StoryboardRequest) -> Storyboard:
    """The shots of a reply, or ``ReplyRejected`` saying exactly what is wrong with it."""
    try:
        data = json.loads(_strip_code_fence(text))
    except json.JSONDecodeError as error:
        raise ReplyRejected(f"the reply is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})") from None
    if isinstance(data, list):
        data = {"shots": data}
    try:
        reply = StoryboardReply.model_validate(data)
    except ValidationError as error:
        raise ReplyRejected(f"the JSON does not match the schema: {_first_problem(error)}") from None
    count = len(reply.shots)
    if not _count_ok(count, request):
        raise ReplyRejected(f"the storyboard has {count} shots but {count_rule(request)} are required")
    _check_cast(reply)
    return Storyboard(
        shots=[_shot_draft(shot) for shot in reply.shots],
        cast=[CharacterDraft(**character.model_dump()) for character in reply.cast],
    )


def _check_cast(reply: StoryboardReply) -> None:
    ids = [character.id for character in reply.cast]
    if len(set(ids)) != len(ids):
        raise ReplyRejected("two characters of the cast share an id")
    if NARRATOR in ids:
        raise ReplyRejected(f"'{NARRATOR}' is reserved and cannot be a character id")
    known = set(ids)
    for index, shot in enumerate(reply.shots, start=1):
        problem = characters_problem(shot.characters, known) or lines_problem(shot.narration, shot.lines, known)
        if problem:
            raise ReplyRejected(f"shot {index}: {problem}")


def _shot_draft(shot: ShotReply) -> ShotDraft:
    fields = shot.model_dump(exclude={"characters", "lines"})
    lines = tuple(Line(line.speaker, line.text) for line in shot.lines)
    return ShotDraft(**fields, characters=tuple(shot.characters), lines=lines)


async def write_with_llm(
    chat: Chat, request: StoryboardRequest, ctx: StageContext, *, backend: str, attempts: int
) -> Storyboard:
    """Ask, validate, and re-ask with the problem stated, at most ``attempts`` times."""
    messages = build_messages(request)
    problem, reply = "", ""
    for attempt in range(1, attempts + 1):
        ctx.raise_if_cancelled()
        reply = await chat(messages)
        try:
            return parse_reply(reply, request)
        except ReplyRejected as rejected:
            problem = str(rejected)
        logger.warning("storyboard reply {}/{} from {} rejected: {}", attempt, attempts, backend, problem)
        ctx.progress(attempt / attempts)
        messages = [
            *messages,
            {"role": "assistant", "content": reply},
            {"role": "user", "content": f"That reply cannot be used: {problem}. Reply again with JSON only."},
        ]
    logger.error("last storyboard reply from {} (raw): {}", backend, reply)
    raise BackendError(
        f"the {backend} storyboard model gave no usable reply in {attempts} attempts; last problem: {problem}; "
        f"last reply began: {reply[:RAW_REPLY_KEPT]!r}",
        backend=backend,
    )


def _count_ok(count: int, request: StoryboardRequest) -> bool:
    if request.shot_count is not None:
        return count == request.shot_count
    return request.min_shots <= count <= request.max_shots


def _strip_code_fence(text: str) -> str:
    match = re.fullmatch(r"\s*```(?:json)?\s*(.*?)\s*```\s*", text, flags=re.DOTALL)
    return match.group(1) if match else text.strip()


def _first_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'invalid')}"
