"""Reference pictures of a shot's characters: the person's upload, else a portrait drawn first.

A portrait is drawn by the story's image backend from the character's look, worded by the one
picture-prompt builder like every keyframe, on a square as wide as the story frame's short side. It
is an artifact of kind "portrait", keyed by the backend, its model and the request (name, appearance,
style, size, a seed of the look and of its take): characters that look the same share one, and shots drawn at once
that need it wait for the one drawing (``ArtifactStore.ensure`` serialises producers of a key).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass

from loguru import logger

from story2video.errors import InvalidRequest
from story2video.pipeline.cache import artifact_key, derive_seed
from story2video.pipeline.deps import PipelineDeps
from story2video.pipeline.failures import stage_errors, within_timeout
from story2video.pipeline.validate import png_validator
from story2video.media.encoding import output_size
from story2video.providers.base import CharacterLook, ImageRequest, StageContext
from story2video.providers.preview.text import script_language
from story2video.storage.artifacts import Produced
from story2video.storage.records import ArtifactRecord, CharacterRecord, ShotRecord, StoryRecord

KIND = "portrait"
STAGE = "keyframes"
PORTRAIT_WORDS = {
    "en": "Portrait of {name}, whole face and clothes visible, facing the viewer, plain background",
    "zh": "{name}的肖像，正面，脸和衣着清晰可见，纯色背景",
}


@dataclass(frozen=True)
class Reference:
    """One character of a shot and its reference picture."""

    character_id: str
    look: CharacterLook
    picture: ArtifactRecord


def look_of(character: CharacterRecord) -> CharacterLook:
    return CharacterLook(name=character.name, appearance=character.appearance)


async def shot_references(deps: PipelineDeps, story: StoryRecord, shot: ShotRecord, ctx: StageContext) -> list[Reference]:
    """The references of the characters ``shot`` shows, in its order; each made now if missing."""
    if not shot.characters:
        return []
    cast = {c.character_id: c for c in await asyncio.to_thread(deps.stories.list_cast, shot.user_id, shot.story_id)}
    references = []
    for character_id in dict.fromkeys(shot.characters):
        character = cast.get(character_id)
        if character is None:
            logger.warning("shot {} names character '{}', which the cast of story {} lacks", shot.shot_id, character_id, story.story_id)
            continue
        picture = await ensure_reference(deps, story, character, ctx, shot.shot_id)
        references.append(Reference(character_id, look_of(character), picture))
    return references


async def ensure_reference(
    deps: PipelineDeps, story: StoryRecord, character: CharacterRecord, ctx: StageContext, shot_id: str | None = None
) -> ArtifactRecord:
    """The character's uploaded picture, else its portrait by the image backend in use (drawn if missing);
    ``shot_id`` names the shot that needs it in errors."""
    if character.reference_upload_id:
        upload = deps.store.get(character.reference_key) if character.reference_key else None
        if upload is None:
            raise InvalidRequest(
                f"the reference picture uploaded for {character.name} ({character.reference_upload_id}) was deleted;"
                " upload another or ask for a drawn one (redraw_reference)",
                param="reference_upload_id",
            )
        return upload
    portrait = await ensure_portrait(deps, story, character, ctx, shot_id)
    if character.reference_key != portrait.key:
        await asyncio.to_thread(deps.stories.set_drawn_reference, character, portrait.key)
    return portrait


def portrait_request(story: StoryRecord, character: CharacterRecord) -> ImageRequest:
    side = min(output_size(story.aspect_ratio, story.resolution))
    words = PORTRAIT_WORDS[script_language(character.appearance or character.name)]
    return ImageRequest(
        prompt=words.format(name=character.name),
        subject=character.name,
        narration="",
        style=story.style,
        width=side,
        height=side,
        seed=derive_seed(character.portrait_take, KIND, character.name, character.appearance),
        characters=(look_of(character),),
        portrait=True,
    )


async def ensure_portrait(
    deps: PipelineDeps, story: StoryRecord, character: CharacterRecord, ctx: StageContext, shot_id: str | None = None
) -> ArtifactRecord:
    painter = deps.providers.image
    request = portrait_request(story, character)
    key = artifact_key(KIND, backend=painter.backend, model=painter.model, request=asdict(request))

    async def produce(dest):
        with stage_errors(STAGE, painter.backend, shot_id):
            result = await within_timeout(
                painter.generate(request, dest, deps.for_artifact(ctx, key)), deps.settings.keyframe_timeout_s, STAGE, painter.backend
            )
        meta = {"prompt": request.prompt, "seed": request.seed, "character": character.name}
        if result is not None and result.actual_prompt:
            meta["actual_prompt"] = result.actual_prompt
        return Produced(painter.backend, painter.model, meta=meta)

    with stage_errors(STAGE, painter.backend, shot_id):
        return await deps.store.ensure(key, KIND, "png", produce, png_validator(request.width, request.height))
