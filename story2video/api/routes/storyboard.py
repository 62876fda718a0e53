"""The three seed endpoints (paths, request and response fields as in the seed service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from story2video.api import examples
from story2video.api.auth import PrincipalDep
from story2video.api.deps import EngineDep, PreferAsync, SettingsDep
from story2video.api.responding import respond
from story2video.protocol import (
    CreateStoryboardRequest,
    CreateStoryboardResponse,
    ErrorResponse,
    Operation,
    RegenerateShotRequest,
    RegenerateShotResponse,
    RenderVideoRequest,
    RenderVideoResponse,
)
from story2video.api.urls import LinksDep

router = APIRouter(prefix="/api/v1", tags=["storyboard"])
CreateBody = Annotated[CreateStoryboardRequest, Body(openapi_examples=examples.CREATE_STORYBOARD)]
RegenerateBody = Annotated[RegenerateShotRequest, Body(openapi_examples=examples.REGENERATE_SHOT)]
RenderBody = Annotated[RenderVideoRequest, Body(openapi_examples=examples.RENDER_VIDEO)]

_RESPONSES = {
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse},
    202: {"model": Operation, "description": "Accepted (with `Prefer: respond-async`); poll the Location"},
    400: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    409: {"model": ErrorResponse},
    429: {"model": ErrorResponse},
    502: {"model": ErrorResponse},
    503: {"model": ErrorResponse},
}


@router.post("/storyboard/create", response_model=CreateStoryboardResponse, responses=_RESPONSES)
async def create_storyboard(
    body: CreateBody, principal: PrincipalDep, links: LinksDep, engine: EngineDep, settings: SettingsDep, prefer_async: PreferAsync
):
    """Split the script into shots and draw one keyframe per shot."""
    principal.require(body.user_id)
    return await respond(engine.create_storyboard(body), engine.operations, links, settings, prefer_async)


@router.post("/shot/regenerate", response_model=RegenerateShotResponse, responses=_RESPONSES)
async def regenerate_shot(
    body: RegenerateBody, principal: PrincipalDep, links: LinksDep, engine: EngineDep, settings: SettingsDep, prefer_async: PreferAsync
):
    """Change a shot's fields and redraw its keyframe (unchanged fields: a new take with a new seed)."""
    principal.require(body.user_id)
    return await respond(engine.regenerate_shot(body), engine.operations, links, settings, prefer_async)


@router.post("/video/render", response_model=RenderVideoResponse, responses=_RESPONSES)
async def render_video(
    body: RenderBody, principal: PrincipalDep, links: LinksDep, engine: EngineDep, settings: SettingsDep, prefer_async: PreferAsync
):
    """Narrate, animate and cut every shot, then join them into one MP4 (+ SRT)."""
    principal.require(body.user_id)
    return await respond(engine.render_video(body), engine.operations, links, settings, prefer_async)
