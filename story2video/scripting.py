"""Scripts as operations and resources: what the engine does for POST /api/v1/scripts, scene prompts,
and reading, editing and deleting scripts. The writing itself is the pipeline's (pipeline/script.py)."""

from __future__ import annotations

import asyncio
import re
import secrets

from story2video.errors import Conflict, InvalidRequest, NotFound
from story2video.jobs.keys import OperationKey
from story2video.jobs.operations import OperationService
from story2video.jobs.states import OperationKind, OperationStatus
from story2video.jobs.tracker import OperationTracker
from story2video.pipeline.deps import PipelineDeps
from story2video.pipeline.script import WRITTEN_STATES, draft_of, write_scene_prompts, write_script
from story2video.presenters import episode_state, script_summary, script_view
from story2video.protocol import CharacterSpec, ScenePromptsRequest, UpdateEpisodeRequest, WriteScriptRequest
from story2video.providers.base import CharacterDraft, CharacterHint, ScriptRequest
from story2video.scriptformat import narrated_text
from story2video.storage.records import EpisodeRecord, OperationRecord, ScriptRecord
from story2video.storage.scripts import ScriptRepository

_MALE = {"男", "男性", "male", "m", "man", "boy", "先生"}
_FEMALE = {"女", "女性", "female", "f", "woman", "girl", "女士"}
_GROUPS = {"child", "young", "adult", "old"}
_YEARS = re.compile(r"(\d{1,3})\s*(?:岁|歲|years?(?:\s*old)?|y/?o)?", re.IGNORECASE)
_HAN = re.compile(r"[\u4e00-\u9fff]")
TITLE_CHARS = 40
SEED_CHOSEN = "seed_chosen"  # stored with a write: the request named no seed, this one was chosen for it


def age_group(years: int) -> str:
    return "child" if years < 13 else "young" if years < 30 else "adult" if years < 60 else "old"


def character_hint(said: str | CharacterSpec) -> CharacterHint:
    """A character asked for, read from "张明,男,28" or from its structured form."""
    if isinstance(said, CharacterSpec):
        years = said.age if isinstance(said.age, int) else None
        group = age_group(years) if years is not None else (said.age or "")
        notes = "; ".join(part for part in (said.appearance, said.notes) if part)
        return CharacterHint(said.name, said.gender or "", group, years, notes)
    parts = [part.strip() for part in re.split(r"[,，、/|]", said) if part.strip()]
    if not parts:
        raise InvalidRequest(f"the character {said!r} has no name", param="characters")
    gender, years, notes = "", None, []
    for part in parts[1:]:
        lowered = part.lower()
        found = _YEARS.fullmatch(lowered)
        if lowered in _MALE:
            gender = "male"
        elif lowered in _FEMALE:
            gender = "female"
        elif found:
            years = int(found.group(1))
        else:
            notes.append(part)
    name = parts[0]
    if len(name) > 60:
        raise InvalidRequest(f"the character name {name[:20]!r}… is longer than 60 characters", param="characters")
    return CharacterHint(name, gender, age_group(years) if years is not None else "", years, ", ".join(notes))


def character_hints(characters: list | str) -> tuple[CharacterHint, ...]:
    said = [line for line in re.split(r"[\n;；]", characters) if line.strip()] if isinstance(characters, str) else characters
    hints = tuple(character_hint(item) for item in said)
    names = [hint.name for hint in hints]
    if len(set(names)) != len(names):
        raise InvalidRequest("two characters asked for have the same name", param="characters")
    return hints


class ScriptService:
    def __init__(self, deps: PipelineDeps, operations: OperationService):
        self.deps = deps
        self.operations = operations

    @property
    def repo(self) -> ScriptRepository:
        assert self.deps.scripts is not None, "the engine is built with a script repository"
        return self.deps.scripts

    # ------------------------------------------------------------------ writing

    def write(self, request: WriteScriptRequest) -> OperationRecord:
        self.script_request(request, seed=0)  # refuses what cannot be written before anything is queued
        body = request.model_dump(mode="json")
        seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
        stored = {**body, "seed": seed, SEED_CHOSEN: request.seed is None}
        return self._submit(OperationKind.WRITE_SCRIPT, request.operation_id, request.user_id, request.script_id, body, stored)

    def script_request(self, request: WriteScriptRequest, seed: int) -> ScriptRequest:
        settings = self.deps.settings
        if request.premise is not None and request.topic is not None and request.premise != request.topic:
            raise InvalidRequest("give the idea as premise or as topic, not both", param="topic")
        premise = request.premise or request.topic
        if premise is None:
            raise InvalidRequest("the idea is missing: give premise (or topic)", param="premise")
        if len(premise) > settings.max_premise_chars:
            raise InvalidRequest(f"premise has {len(premise)} characters; the limit is {settings.max_premise_chars}", param="premise")
        if request.episodes > settings.max_script_episodes:
            raise InvalidRequest(f"episodes may be at most {settings.max_script_episodes} (MAX_SCRIPT_EPISODES)", param="episodes")
        hints = character_hints(request.characters)
        language = request.language
        if language == "auto":
            said = " ".join([premise, request.genre, request.title, *(hint.name for hint in hints)])
            language = "zh" if _HAN.search(said) else "en"
        return ScriptRequest(premise, request.genre, request.duration, request.episodes, hints, request.style, language, seed, request.title)

    async def _write(self, tracker: OperationTracker) -> dict:
        body = dict(tracker.record.request)
        chosen = body.pop(SEED_CHOSEN, False)
        request = WriteScriptRequest.model_validate(body)
        existing = await asyncio.to_thread(self.repo.get_script, request.user_id, request.script_id)
        resume = existing is not None and _same_inputs(existing.request, body, seed_chosen=chosen)
        if resume:  # carried on with the seed it was begun with, so the preview writer stays consistent
            body["seed"] = existing.request["seed"]
        spec = self.script_request(request, body["seed"])
        script = ScriptRecord(
            user_id=request.user_id,
            script_id=request.script_id,
            title=spec.title or _title_of(spec.premise),
            premise=spec.premise,
            genre=spec.genre,
            duration=spec.duration,
            episode_count=spec.episodes,
            style=spec.style,
            language=spec.language,
            request=body,
            operation_id=request.operation_id,
        )
        await write_script(self.deps, tracker, script, spec, resume=resume)
        return {"script": await asyncio.to_thread(self._view_while_running, request.user_id, request.script_id)}

    def _view_while_running(self, user_id: str, script_id: str) -> dict:
        script = self.require(user_id, script_id)
        view = script_view(script, self.repo.list_episodes(user_id, script_id), None)
        return {**view, "status": "done"}

    # ------------------------------------------------------------------ scene prompts

    def scene_prompts(self, script_id: str, request: ScenePromptsRequest) -> OperationRecord:
        self._written_episodes(request.user_id, script_id, request.episode)
        body = {**request.model_dump(mode="json"), "script_id": script_id}
        return self._submit(OperationKind.SCENE_PROMPTS, request.operation_id, request.user_id, script_id, body)

    def _written_episodes(self, user_id: str, script_id: str, number: int | None) -> tuple[ScriptRecord, list[EpisodeRecord]]:
        script = self.require(user_id, script_id)
        episodes = self.repo.list_episodes(user_id, script_id)
        if number is not None:
            chosen = [episode for episode in episodes if episode.episode == number]
            if not chosen:
                raise NotFound(f"script '{script_id}' has no episode {number}")
            if chosen[0].state not in WRITTEN_STATES:
                raise Conflict(f"episode {number} of script '{script_id}' is not written ({chosen[0].state})", code="episode_not_written")
            return script, chosen
        written = [episode for episode in episodes if episode.state in WRITTEN_STATES]
        if not written:
            raise Conflict(f"script '{script_id}' has no written episode yet", code="episode_not_written")
        return script, written

    async def _scene_prompts(self, tracker: OperationTracker) -> dict:
        body = tracker.record.request
        script, episodes = await asyncio.to_thread(self._written_episodes, body["user_id"], body["script_id"], body.get("episode"))
        return await write_scene_prompts(self.deps, tracker, script, episodes, script.style)

    # ------------------------------------------------------------------ resources

    def require(self, user_id: str, script_id: str) -> ScriptRecord:
        script = self.repo.get_script(user_id, script_id)
        if script is None:
            raise NotFound(f"script '{script_id}' does not exist for user '{user_id}'")
        return script

    def _operation_of(self, script: ScriptRecord) -> OperationRecord | None:
        return self.operations.repo.get(script.user_id, script.operation_id)

    def view(self, user_id: str, script_id: str) -> dict:
        script = self.require(user_id, script_id)
        return script_view(script, self.repo.list_episodes(user_id, script_id), self._operation_of(script))

    def summaries(self, user_id: str, limit: int, offset: int) -> list[dict]:
        return [
            script_summary(script, self.repo.list_episodes(user_id, script.script_id), self._operation_of(script))
            for script in self.repo.list_scripts(user_id, limit, offset)
        ]

    def delete(self, user_id: str, script_id: str) -> None:
        """Delete the script and its episodes; an operation still writing it is cancelled first."""
        script = self.require(user_id, script_id)
        operation = self._operation_of(script)
        if operation is not None and not OperationStatus(operation.status).is_terminal:
            self.operations.cancel(OperationKey(user_id, operation.operation_id))
        self.repo.delete_script(user_id, script_id)

    def update_episode(self, script_id: str, number: int, request: UpdateEpisodeRequest) -> dict:
        """A person's edit of an episode's text (before it is filmed); its scene prompts are dropped."""
        if len(request.text) > self.deps.settings.max_script_chars:
            raise InvalidRequest(f"text has {len(request.text)} characters; the limit is {self.deps.settings.max_script_chars}", param="text")
        script = self.require(request.user_id, script_id)
        episode = self.repo.get_episode(request.user_id, script_id, number)
        if episode is None:
            raise NotFound(f"script '{script_id}' has no episode {number}")
        operation = self._operation_of(script)
        if episode_state(episode, operation) in ("waiting", "writing"):
            raise Conflict(f"episode {number} is still being written: wait for it, or cancel the operation", code="episode_being_written")
        self.repo.update_episode(request.user_id, script_id, number, request.text.strip(), request.title)
        return self.view(request.user_id, script_id)

    def episode_for_story(self, user_id: str, script_id: str, number: int) -> tuple[str, list[CharacterDraft]]:
        """What a storyboard films from a script's episode: its narrated text and the script's cast."""
        script = self.require(user_id, script_id)
        episode = self.repo.get_episode(user_id, script_id, number)
        if episode is None:
            raise NotFound(f"script '{script_id}' has no episode {number}")
        if episode.state not in WRITTEN_STATES:
            raise Conflict(f"episode {number} of script '{script_id}' is not written ({episode_state(episode, self._operation_of(script))})", code="episode_not_written")
        return narrated_text(episode.text), [draft_of(member) for member in script.cast_members]

    # ------------------------------------------------------------------ internals

    def _submit(self, kind: OperationKind, operation_id: str, user_id: str, script_id: str, body: dict, stored: dict | None = None) -> OperationRecord:
        # The operation's story_id names the script: its lock keeps two writes of one script apart.
        return self.operations.submit(
            operation_id=operation_id, kind=kind.value, user_id=user_id, story_id=script_id, body=body, stored_body=stored
        )

    async def execute(self, tracker: OperationTracker) -> dict:
        if tracker.record.kind == OperationKind.WRITE_SCRIPT.value:
            return await self._write(tracker)
        return await self._scene_prompts(tracker)


def _same_inputs(stored: dict, body: dict, *, seed_chosen: bool) -> bool:
    """Whether a new request asks for the same script as the stored one: the same inputs, and the same
    seed unless the new request named none (then it carries on with the stored one)."""
    ignored = {"operation_id", SEED_CHOSEN} | ({"seed"} if seed_chosen else set())
    return {k: v for k, v in stored.items() if k not in ignored} == {k: v for k, v in body.items() if k not in ignored}


def _title_of(premise: str) -> str:
    line = premise.strip().splitlines()[0]
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1] + "…"
