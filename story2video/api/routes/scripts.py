"""Scripts written from an idea: the writing operation, the scripts as resources, and scene prompts.

The text streams on the operation's events (GET /api/v1/operations/{id}/events): ``script.delta``
while a part is written, then ``script.cast``, ``script.outline`` and one ``script.episode`` each."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response

from story2video.api import examples
from story2video.api.auth import PrincipalDep
from story2video.api.deps import EngineDep, PageLimit, PageOffset, PreferAsync, SettingsDep
from story2video.api.responding import respond
from story2video.api.urls import LinksDep
from story2video.protocol import (
    ID_PATTERN,
    ErrorResponse,
    Operation,
    ScenePromptsRequest,
    ScenePromptsResponse,
    Script,
    ScriptSummary,
    UpdateEpisodeRequest,
    WriteScriptRequest,
    WriteScriptResponse,
)

router = APIRouter(prefix="/api/v1/scripts", tags=["scripts"])
WriteBody = Annotated[WriteScriptRequest, Body(openapi_examples=examples.WRITE_SCRIPT)]
PromptsBody = Annotated[ScenePromptsRequest, Body(openapi_examples=examples.SCENE_PROMPTS)]
EpisodeBody = Annotated[UpdateEpisodeRequest, Body(openapi_examples=examples.UPDATE_EPISODE)]
UserId = Query(pattern=ID_PATTERN, description="The user the script belongs to", openapi_examples=examples.parameter(examples.USER_ID))
ScriptId = Path(pattern=ID_PATTERN, openapi_examples=examples.parameter(examples.SCRIPT_ID))
EpisodeNumber = Path(ge=1, description="The episode, from 1", openapi_examples=examples.parameter(1))
_RESPONSES = {
    400: {"model": ErrorResponse},
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    409: {"model": ErrorResponse},
}
_OPERATION_RESPONSES = {
    **_RESPONSES,
    202: {"model": Operation, "description": "Accepted (with `Prefer: respond-async`); follow its events"},
    429: {"model": ErrorResponse},
    502: {"model": ErrorResponse},
    503: {"model": ErrorResponse},
}


@router.post("", response_model=WriteScriptResponse, responses=_OPERATION_RESPONSES)
async def write_script(
    body: WriteBody, principal: PrincipalDep, links: LinksDep, engine: EngineDep, settings: SettingsDep, prefer_async: PreferAsync
):
    """Write a script from an idea: the cast, an episode outline, then each episode scene by scene. The text
    streams on the operation's events as it is written; each part is stored as soon as it is ready."""
    principal.require(body.user_id)
    return await respond(engine.scripts.write(body), engine.operations, links, settings, prefer_async)


@router.get("", response_model=list[ScriptSummary], responses=_RESPONSES)
def list_scripts(engine: EngineDep, principal: PrincipalDep, user_id: str = UserId, limit: PageLimit = 50, offset: PageOffset = 0):
    """The user's scripts, most recently changed first."""
    principal.require(user_id)
    return engine.scripts.summaries(user_id, limit, offset)


@router.get("/{script_id}", response_model=Script, responses=_RESPONSES)
def get_script(engine: EngineDep, principal: PrincipalDep, script_id: str = ScriptId, user_id: str = UserId):
    """Cast, outline and episodes with the state of each (an episode being written shows its text so far)."""
    principal.require_visible(user_id, f"script '{script_id}'")
    return engine.scripts.view(user_id, script_id)


@router.delete("/{script_id}", status_code=204, responses=_RESPONSES)
def delete_script(engine: EngineDep, principal: PrincipalDep, script_id: str = ScriptId, user_id: str = UserId) -> Response:
    """Delete the script and its episodes (an operation still writing it is cancelled). Stories made from it stay."""
    principal.require_visible(user_id, f"script '{script_id}'")
    engine.scripts.delete(user_id, script_id)
    return Response(status_code=204)


@router.patch("/{script_id}/episodes/{episode}", response_model=Script, responses=_RESPONSES)
def update_episode(
    request: EpisodeBody, engine: EngineDep, principal: PrincipalDep, script_id: str = ScriptId, episode: int = EpisodeNumber
):
    """Replace an episode's text (and title), as people edit before they film. Its scene prompts are dropped."""
    principal.require(request.user_id)
    return engine.scripts.update_episode(script_id, episode, request)


@router.post("/{script_id}/scene-prompts", response_model=ScenePromptsResponse, responses=_OPERATION_RESPONSES)
async def scene_prompts(
    body: PromptsBody,
    principal: PrincipalDep,
    links: LinksDep,
    engine: EngineDep,
    settings: SettingsDep,
    prefer_async: PreferAsync,
    script_id: str = ScriptId,
):
    """One picture description per scene of a written episode (or of every written one), streamed like the
    script (`script.delta`, then `script.scene_prompts` per episode) and stored with the episode."""
    principal.require(body.user_id)
    return await respond(engine.scripts.scene_prompts(script_id, body), engine.operations, links, settings, prefer_async)
