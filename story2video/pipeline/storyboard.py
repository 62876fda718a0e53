"""Storyboard stage: the script becomes shots, checked against the request before anything is saved."""

from __future__ import annotations

from dataclasses import asdict, replace

from story2video.castfields import NARRATOR, LineFields, characters_problem, lines_problem
from story2video.errors import BackendError
from story2video.pipeline.cache import derive_seed
from story2video.pipeline.deps import PipelineDeps
from story2video.pipeline.failures import stage_errors, within_timeout
from story2video.pipeline.progress import Progress
from story2video.providers.base import CharacterDraft, Line, Storyboard, StoryboardRequest
from story2video.storage.records import CharacterRecord, ShotRecord, StoryRecord

STAGE = "storyboard"
_FIELDS = ("subject", "detail", "camera", "narration", "tone")


def shot_id_for(sequence: int) -> str:
    return f"shot_{sequence:02d}"


async def write_storyboard(deps: PipelineDeps, progress: Progress, request: StoryboardRequest) -> Storyboard:
    progress.enter_stage(STAGE)
    writer = deps.providers.storyboard
    with stage_errors(STAGE, writer.backend):
        storyboard = await within_timeout(
            writer.write(request, progress.context()), deps.settings.storyboard_timeout_s, STAGE, writer.backend
        )
        _check_drafts(storyboard, request, writer.backend)
        _check_cast(storyboard, writer.backend)
    return storyboard


def _check_drafts(storyboard: Storyboard, request: StoryboardRequest, backend: str) -> None:
    drafts = storyboard.shots
    count = len(drafts)
    if request.shot_count is not None and count != request.shot_count:
        raise BackendError(f"the storyboard has {count} shots, {request.shot_count} were requested", backend=backend)
    if request.shot_count is None and not request.min_shots <= count <= request.max_shots:
        raise BackendError(
            f"the storyboard has {count} shots, expected {request.min_shots} to {request.max_shots}", backend=backend
        )
    for index, draft in enumerate(drafts, start=1):
        empty = [name for name in _FIELDS if not getattr(draft, name).strip()]
        if empty:
            raise BackendError(f"shot {index} of the storyboard has empty fields: {', '.join(empty)}", backend=backend)


def _check_cast(storyboard: Storyboard, backend: str) -> None:
    ids = [character.id for character in storyboard.cast]
    if len(set(ids)) != len(ids) or NARRATOR in ids:
        raise BackendError(f"the storyboard's cast has a repeated or reserved character id: {ids}", backend=backend)
    for character in storyboard.cast:
        if not character.name.strip() or not character.appearance.strip():
            raise BackendError(f"character '{character.id}' of the storyboard has no name or appearance", backend=backend)
    known = set(ids)
    for index, shot in enumerate(storyboard.shots, start=1):
        lines = [LineFields(speaker=line.speaker, text=line.text) for line in shot.lines]
        problem = characters_problem(list(shot.characters), known) or lines_problem(shot.narration, lines, known)
        if problem:
            raise BackendError(f"shot {index} of the storyboard: {problem}", backend=backend)


def adopt_cast(storyboard: Storyboard, fixed: list[CharacterDraft], script: str) -> Storyboard:
    """The storyboard with a cast fixed beforehand (a script's): each drawn character the fixed cast
    names (by name, else by id) becomes that character, with its id, look and voice hints; the fixed
    characters the script mentions join the cast; anyone else the writer met stays as drawn."""
    by_name = {character.name: character for character in fixed}
    by_id = {character.id: character for character in fixed}
    rename: dict[str, str] = {}
    extras: list[CharacterDraft] = []
    for drawn in storyboard.cast:
        match = by_name.get(drawn.name) or by_id.get(drawn.id)
        if match is not None and (match.name == drawn.name or match.name not in script):
            rename[drawn.id] = match.id
        else:
            extras.append(drawn)
    taken = set(by_id)
    for index, extra in enumerate(extras):
        if extra.id in taken:  # an extra that happens to share a fixed character's id
            new_id = f"{extra.id}_{index + 1}"
            rename[extra.id] = new_id
            extras[index] = replace(extra, id=new_id)
        taken.add(extras[index].id)
    used = set(rename.values())
    cast = [character for character in fixed if character.id in used or character.name in script] + extras

    def renamed(ids: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(rename.get(character, character) for character in ids))

    shots = [
        replace(
            shot,
            characters=renamed(shot.characters),
            lines=tuple(Line(rename.get(line.speaker, line.speaker), line.text) for line in shot.lines),
        )
        for shot in storyboard.shots
    ]
    return Storyboard(shots=shots, cast=cast)


def cast_from_drafts(story: StoryRecord, cast: list[CharacterDraft]) -> list[CharacterRecord]:
    return [
        CharacterRecord(
            user_id=story.user_id,
            story_id=story.story_id,
            character_id=draft.id,
            sequence=sequence,
            name=draft.name.strip(),
            appearance=draft.appearance.strip(),
            gender=draft.gender,
            age=draft.age,
            timbre=draft.timbre.strip(),
        )
        for sequence, draft in enumerate(cast, start=1)
    ]


def shots_from_drafts(story: StoryRecord, storyboard: Storyboard, base_seed: int) -> list[ShotRecord]:
    return [
        ShotRecord(
            user_id=story.user_id,
            story_id=story.story_id,
            shot_id=shot_id_for(sequence),
            sequence=sequence,
            subject=draft.subject.strip(),
            detail=draft.detail.strip(),
            camera=draft.camera.strip(),
            narration=draft.narration.strip(),
            tone=draft.tone.strip(),
            style=story.style,
            seed=derive_seed(base_seed, story.story_id, sequence),
            characters=list(draft.characters),
            lines=[asdict(line) for line in draft.lines],
        )
        for sequence, draft in enumerate(storyboard.shots, start=1)
    ]
