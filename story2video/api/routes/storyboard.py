"""The three seed endpoints (paths, request and response fields as in the seed service)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from story2video.api.deps import EngineDep, PreferAsync, SettingsDep
from story2video.api.responding import respond
from story2video.api.schemas import (
    CreateStoryboardRequest,
    CreateStoryboardResponse,
    ErrorResponse,
    Operation,
    RegenerateShotRequest,
    RegenerateShotResponse,
    RenderVideoRequest,
    RenderVideoResponse,
)

router = APIRouter(prefix="/api/v1", tags=["storyboard"])

_RESPONSES = {
    202: {"model": Operation, "description": "Accepted (with `Prefer: respond-async`); poll the Location"},
    400: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    409: {"model": ErrorResponse},
    429: {"model": ErrorResponse},
    502: {"model": ErrorResponse},
    503: {"model": ErrorResponse},
}


@router.post("/storyboard/create", response_model=CreateStoryboardResponse, responses=_RESPONSES)
async def create_storyboard(body: CreateStoryboardRequest, request: Request, engine: EngineDep, settings: SettingsDep, prefer_async: PreferAsync):
    """Split the script into shots and draw one keyframe per shot."""
    return await respond(engine.create_storyboard(body), request, settings, prefer_async)


@router.post("/shot/regenerate", response_model=RegenerateShotResponse, responses=_RESPONSES)
async def regenerate_shot(body: RegenerateShotRequest, request: Request, engine: EngineDep, settings: SettingsDep, prefer_async: PreferAsync):
    """Change a shot's fields and redraw its keyframe (unchanged fields: a new take with a new seed)."""
    return await respond(engine.regenerate_shot(body), request, settings, prefer_async)


@router.post("/video/render", response_model=RenderVideoResponse, responses=_RESPONSES)
async def render_video(body: RenderVideoRequest, request: Request, engine: EngineDep, settings: SettingsDep, prefer_async: PreferAsync):
    """Narrate, animate and cut every shot, then join them into one MP4 (+ SRT)."""
    return await respond(engine.render_video(body), request, settings, prefer_async)
