"""Writing a script from an idea: cast, outline, then each episode scene by scene; and the scene
prompts of written episodes.

Each part streams as the writer produces it: ``script.delta`` events carry the text (part, episode,
attempt, offset), coalesced into pieces of at least ``DELTA_MIN_CHARS`` or ``DELTA_MAX_WAIT_S``; a part
that is ready is announced with its structured form (``script.cast``, ``script.outline``,
``script.episode``, ``script.scene_prompts``) and stored at once. An episode's text is stored with every
delta, so a cancel keeps what was written and a restart leaves every finished episode readable.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from typing import Callable

from story2video.errors import BackendError, ConfigurationError, OperationCancelled
from story2video.pipeline.deps import PipelineDeps
from story2video.pipeline.failures import stage_errors, within_timeout
from story2video.pipeline.progress import Progress
from story2video.providers.base import CharacterDraft, EpisodePlan, ScenePromptRequest, ScriptRequest, ScriptWriter
from story2video.scriptformat import split_scenes
from story2video.storage.records import EpisodeRecord, ScriptRecord
from story2video.storage.scripts import ScriptRepository

SCRIPT_STAGES = (("cast", 0.1), ("outline", 0.1), ("episodes", 0.8))
SCENE_PROMPT_STAGES = (("scene_prompts", 1.0),)
DELTA_MIN_CHARS = 24
DELTA_MAX_WAIT_S = 0.25
WRITTEN_STATES = ("done", "edited")  # an episode whose text is whole


class TextStream:
    """The ``TextOut`` of one part: coalesces the writer's pieces into ``script.delta`` events with
    offsets into the part's text, and hands the text so far to ``keep`` at every event."""

    def __init__(self, progress: Progress, part: str, episode: int | None, keep: Callable[[str], None] | None = None):
        self._progress = progress
        self._part = part
        self._episode = episode
        self._keep = keep
        self.attempt = 1
        self.text = ""
        self._sent = 0  # characters of ``text`` already sent
        self._last = time.monotonic()

    def write(self, text: str) -> None:
        self.text += text
        if len(self.text) - self._sent >= DELTA_MIN_CHARS or time.monotonic() - self._last >= DELTA_MAX_WAIT_S:
            self.flush()

    def restart(self) -> None:
        self.flush()
        self.attempt += 1
        self.text, self._sent = "", 0
        self._progress.publish("script.restart", {"part": self._part, "episode": self._episode, "attempt": self.attempt})

    def flush(self) -> None:
        if len(self.text) == self._sent:
            return
        piece = self.text[self._sent :]
        if self._keep is not None:
            self._keep(self.text)
        self._progress.publish(
            "script.delta",
            {"part": self._part, "episode": self._episode, "attempt": self.attempt, "offset": self._sent, "text": piece},
        )
        self._sent = len(self.text)
        self._last = time.monotonic()


def script_writer(deps: PipelineDeps) -> ScriptWriter:
    writer = deps.providers.script
    if writer is None:
        raise ConfigurationError("no script writer is configured in this build (SCRIPT_BACKEND)")
    return writer


def _repo(deps: PipelineDeps) -> ScriptRepository:
    if deps.scripts is None:
        raise ConfigurationError("the pipeline was built without a script repository")
    return deps.scripts


async def _call(deps: PipelineDeps, stage: str, writer: ScriptWriter, call) -> object:
    with stage_errors(stage, writer.backend):
        return await within_timeout(call, deps.settings.script_timeout_s, stage, writer.backend)


async def write_script(
    deps: PipelineDeps, progress: Progress, script: ScriptRecord, request: ScriptRequest, *, resume: bool = False
) -> dict:
    """Write the whole script, storing each part as it is ready; the summary of what was written.

    ``resume``: the stored script of the same inputs is carried on: its cast, outline and finished
    episodes are kept (and announced again, without deltas), the rest is written."""
    repo, writer = _repo(deps), script_writer(deps)
    key = (script.user_id, script.script_id)
    kept: ScriptRecord | None = None
    finished: dict[int, EpisodeRecord] = {}
    if resume:
        kept = await asyncio.to_thread(repo.get_script, *key)
        await asyncio.to_thread(repo.resume_script, script)
        finished = {e.episode: e for e in await asyncio.to_thread(repo.list_episodes, *key) if e.state in WRITTEN_STATES}
    else:
        episodes = [EpisodeRecord(script.user_id, script.script_id, n, "", "", "", "waiting") for n in range(1, request.episodes + 1)]
        await asyncio.to_thread(repo.start_script, script, episodes)

    progress.enter_stage("cast")
    if kept is not None and kept.cast_members:
        members = kept.cast_members
        cast = [draft_of(member) for member in members]
    else:
        out = TextStream(progress, "cast", None)
        cast = await _call(deps, "cast", writer, writer.write_cast(request, out, progress.context()))
        out.flush()
        _check_cast(cast, writer.backend)
        members = [_member(character) for character in cast]
        await asyncio.to_thread(repo.set_cast, *key, members)
    progress.publish("script.cast", {"cast": members})

    progress.enter_stage("outline")
    if kept is not None and len(kept.outline) == request.episodes:
        plans = kept.outline
        outline = [EpisodePlan(plan["episode"], plan["title"], plan["summary"]) for plan in plans]
    else:
        out = TextStream(progress, "outline", None)
        outline = await _call(deps, "outline", writer, writer.write_outline(request, cast, out, progress.context()))
        out.flush()
        _check_outline(outline, request.episodes, writer.backend)
        plans = [{"episode": plan.number, "title": plan.title.strip(), "summary": plan.summary.strip()} for plan in outline]
        await asyncio.to_thread(repo.set_outline, *key, plans)
    progress.publish("script.outline", {"outline": plans})

    progress.enter_stage("episodes")
    for number in range(1, request.episodes + 1):
        if number in finished:
            done = finished[number]
            progress.publish(
                "script.episode",
                {"episode": number, "title": done.title, "text": done.text, "scenes": len(split_scenes(done.text)), "state": done.state},
            )
        else:
            await _write_episode(deps, progress, writer, script, request, cast, outline, number)
        progress.context().progress(number / request.episodes)
    return {"script_id": script.script_id, "episodes": request.episodes, "kept_episodes": sorted(finished)}


async def _write_episode(
    deps: PipelineDeps, progress: Progress, writer: ScriptWriter, script: ScriptRecord, request: ScriptRequest,
    cast: list[CharacterDraft], outline: list[EpisodePlan], number: int,
) -> None:  # fmt: skip
    repo = _repo(deps)

    def keep(text: str) -> None:
        repo.set_episode_text(script.user_id, script.script_id, number, text, "writing")

    out = TextStream(progress, "episode", number, keep)
    await asyncio.to_thread(repo.set_episode_state, script.user_id, script.script_id, number, "writing")
    try:
        text = await _call(deps, "episodes", writer, writer.write_episode(request, cast, outline, number, out, progress.context()))
    except BaseException as error:
        out.flush()
        state = "cancelled" if isinstance(error, OperationCancelled) else "interrupted" if isinstance(error, asyncio.CancelledError) else "failed"
        await asyncio.shield(asyncio.to_thread(repo.set_episode_text, script.user_id, script.script_id, number, out.text, state))
        raise
    out.flush()
    text = text.strip()
    if not split_scenes(text):
        raise BackendError(f"episode {number} of the script has no scenes", backend=writer.backend, stage="episodes")
    await asyncio.to_thread(repo.set_episode_text, script.user_id, script.script_id, number, text, "done")
    plan = outline[number - 1]
    progress.publish(
        "script.episode",
        {"episode": number, "title": plan.title, "text": text, "scenes": len(split_scenes(text)), "state": "done"},
    )


async def write_scene_prompts(
    deps: PipelineDeps, progress: Progress, script: ScriptRecord, episodes: list[EpisodeRecord], style: str
) -> dict:
    """One picture description per scene of each written episode in ``episodes``, stored with it."""
    repo, writer = _repo(deps), script_writer(deps)
    cast = tuple(draft_of(member) for member in script.cast_members)
    progress.enter_stage("scene_prompts")
    result = []
    for index, episode in enumerate(episodes, start=1):
        scenes = split_scenes(episode.text)
        request = ScenePromptRequest(episode.episode, episode.text, cast, style, script.language)
        out = TextStream(progress, "scene_prompts", episode.episode)
        prompts = await _call(deps, "scene_prompts", writer, writer.write_scene_prompts(request, out, progress.context()))
        out.flush()
        if len(prompts) != len(scenes) or not all(prompt.strip() for prompt in prompts):
            raise BackendError(
                f"the scene prompts of episode {episode.episode} are {len(prompts)} for {len(scenes)} scenes, or some are empty",
                backend=writer.backend, stage="scene_prompts",
            )  # fmt: skip
        stored = [{"scene": scene.number, "heading": scene.heading, "prompt": prompt.strip()} for scene, prompt in zip(scenes, prompts)]
        await asyncio.to_thread(repo.set_scene_prompts, script.user_id, script.script_id, episode.episode, stored)
        progress.publish("script.scene_prompts", {"episode": episode.episode, "prompts": stored})
        result.append({"episode": episode.episode, "prompts": stored})
        progress.context().progress(index / len(episodes))
    return {"script_id": script.script_id, "scene_prompts": result}


def _member(character: CharacterDraft) -> dict:
    return {key: value.strip() if isinstance(value, str) else value for key, value in asdict(character).items()}


def draft_of(member: dict) -> CharacterDraft:
    return CharacterDraft(**member)


def _check_cast(cast: list[CharacterDraft], backend: str) -> None:
    ids = [character.id for character in cast]
    if not cast or len(set(ids)) != len(ids):
        raise BackendError(f"the script's cast is empty or repeats an id: {ids}", backend=backend, stage="cast")


def _check_outline(outline: list[EpisodePlan], episodes: int, backend: str) -> None:
    if [plan.number for plan in outline] != list(range(1, episodes + 1)):
        raise BackendError(f"the outline does not list episodes 1 to {episodes}", backend=backend, stage="outline")


__all__ = ["SCENE_PROMPT_STAGES", "SCRIPT_STAGES", "TextStream", "WRITTEN_STATES", "draft_of", "write_scene_prompts", "write_script"]
