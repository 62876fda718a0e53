"""Stories and shots: read and delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response

from story2video.api import examples
from story2video.api.auth import PrincipalDep
from story2video.api.deps import EngineDep, PageLimit, PageOffset
from story2video.protocol import ID_PATTERN, Character, ErrorResponse, Shot, Story, StorySummary, UpdateCharacterRequest
from story2video.api.urls import LinksDep
from story2video.errors import NotFound
from story2video.pipeline.deps import public_url
from story2video.presenters import character_view, shot_view, story_view

router = APIRouter(prefix="/api/v1/stories", tags=["stories"])
UserId = Query(pattern=ID_PATTERN, description="The user the story belongs to", openapi_examples=examples.parameter(examples.USER_ID))
StoryId = Path(pattern=ID_PATTERN, openapi_examples=examples.parameter(examples.STORY_ID))
ShotId = Path(pattern=ID_PATTERN, openapi_examples=examples.parameter(examples.SHOT_ID))
CharacterId = Path(
    pattern=ID_PATTERN, description="A character id of the story's cast", openapi_examples=examples.parameter(examples.CHARACTER_ID)
)
CharacterBody = Annotated[UpdateCharacterRequest, Body(openapi_examples=examples.UPDATE_CHARACTER)]
_RESPONSES = {401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}}


@router.get("", response_model=list[StorySummary], responses=_RESPONSES)
def list_stories(
    engine: EngineDep,
    principal: PrincipalDep,
    links: LinksDep,
    user_id: str = UserId,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
):
    """The user's stories, most recently changed first."""
    principal.require(user_id)
    repo, store = engine.deps.stories, engine.deps.store
    summaries = []
    for story in repo.list_stories(user_id, limit, offset):
        video = store.get(story.video_key) if story.video_key else None
        summaries.append(
            {
                "story_id": story.story_id,
                "display_name": story.display_name,
                "shot_count": len(repo.list_shots(user_id, story.story_id)),
                "video_url": public_url(store, video),
                "updated_at": story.updated_at,
            }
        )
    return links.absolutize(summaries)


@router.get("/{story_id}", response_model=Story, responses=_RESPONSES)
def get_story(engine: EngineDep, principal: PrincipalDep, links: LinksDep, story_id: str = StoryId, user_id: str = UserId):
    principal.require_visible(user_id, f"story '{story_id}'")
    story = engine.require_story(user_id, story_id)
    shots, cast = engine.list_shots(user_id, story_id), engine.list_cast(user_id, story_id)
    return links.absolutize(story_view(engine.deps.store, story, shots, cast))


@router.delete("/{story_id}", status_code=204, responses=_RESPONSES)
def delete_story(engine: EngineDep, principal: PrincipalDep, story_id: str = StoryId, user_id: str = UserId) -> Response:
    """Delete the story and its shots. Artifact files are content-addressed and may be shared, so they stay."""
    principal.require_visible(user_id, f"story '{story_id}'")
    if not engine.deps.stories.delete_story(user_id, story_id):
        raise NotFound(f"story '{story_id}' does not exist for user '{user_id}'")
    return Response(status_code=204)


@router.get("/{story_id}/shots/{shot_id}", response_model=Shot, responses=_RESPONSES)
def get_shot(
    engine: EngineDep, principal: PrincipalDep, links: LinksDep, story_id: str = StoryId, shot_id: str = ShotId, user_id: str = UserId
):
    principal.require_visible(user_id, f"story '{story_id}'")
    engine.require_story(user_id, story_id)
    shot = engine.deps.stories.get_shot(user_id, story_id, shot_id)
    if shot is None:
        raise NotFound(f"story '{story_id}' has no shot '{shot_id}'")
    return links.absolutize(shot_view(engine.deps.store, shot))


@router.get("/{story_id}/cast", response_model=list[Character], responses=_RESPONSES)
def get_cast(engine: EngineDep, principal: PrincipalDep, links: LinksDep, story_id: str = StoryId, user_id: str = UserId):
    """The story's characters: look, voice, reference picture and the shots that show each."""
    principal.require_visible(user_id, f"story '{story_id}'")
    shots, cast = engine.list_shots(user_id, story_id), engine.list_cast(user_id, story_id)
    return links.absolutize([character_view(engine.deps.store, character, shots) for character in cast])


@router.patch("/{story_id}/cast/{character_id}", response_model=Character, responses={**_RESPONSES, 400: {"model": ErrorResponse}})
def update_character(
    request: CharacterBody,
    engine: EngineDep,
    principal: PrincipalDep,
    links: LinksDep,
    story_id: str = StoryId,
    character_id: str = CharacterId,
):
    """Edit one character. A new name, look or reference picture redraws exactly the shots that show it at
    the next render (uploaded keyframes stay); a new voice re-speaks exactly its lines."""
    principal.require(request.user_id)
    character = engine.update_character(story_id, character_id, request)
    shots = engine.list_shots(request.user_id, story_id)
    return links.absolutize(character_view(engine.deps.store, character, shots))
