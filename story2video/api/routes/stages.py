"""Seed 003's stage endpoints: thin adapters over the engine's stage work (story2video/stages/).

Each POST starts a task (an operation whose id is the ``task_id``) and, like the seed endpoints, waits
for it and answers the seed's body, or answers 202 at once with ``Prefer: respond-async``;
``GET /tasks/{id}`` reads any operation in seed 003's shape. The task belongs to the caller's user
(a scoped key's, a signed-in person's), else to ``?user_id=``, else to the user ``stages``.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import JSONResponse

from story2video.api import examples
from story2video.api.auth import Principal, PrincipalDep
from story2video.api.deps import EngineDep, PreferAsync, SettingsDep
from story2video.api.errors import error_response, status_for_code
from story2video.api.urls import Links, LinksDep
from story2video.jobs.keys import OperationKey
from story2video.jobs.states import OperationStatus
from story2video.protocol import ID_PATTERN, ErrorResponse
from story2video.stages.schemas import (
    ClipsRequest,
    ClipsResponse,
    FramesRequest,
    FramesResponse,
    NarrationRequest,
    NarrationResponse,
    StoryboardStageRequest,
    StoryboardStageResponse,
    TaskView,
)
from story2video.stages.work import STAGE_KINDS
from story2video.storage.records import OperationRecord

router = APIRouter(prefix="/api/v1", tags=["stages"])
DEFAULT_USER = "stages"
LINK_FIELDS = ("frame", "clip", "audio")
TaskUser = Query(
    None,
    pattern=ID_PATTERN,
    openapi_examples=examples.parameter(examples.USER_ID),
    description="Whose task (a scoped key or a signed-in person implies it); default: the user 'stages'",
)
TaskId = Path(pattern=ID_PATTERN, openapi_examples=examples.parameter("task_frames_5f0c2a9e81d3"), description="A task_id, or any operation_id")
_STATUS = {
    OperationStatus.QUEUED.value: "pending",
    OperationStatus.RUNNING.value: "running",
    OperationStatus.SUCCESS.value: "done",
    OperationStatus.FAILED.value: "error",
    OperationStatus.CANCELLED.value: "error",
}
_RESPONSES = {
    202: {"model": TaskView, "description": "Accepted (with `Prefer: respond-async`); poll GET /api/v1/tasks/{task_id}"},
    400: {"model": ErrorResponse},
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse},
    429: {"model": ErrorResponse},
    502: {"model": ErrorResponse},
    503: {"model": ErrorResponse},
}

SEED_STORYBOARD = {"story": "一位独行武者穿越废土城市寻找真相", "style": "赛博朋克，冷色光影", "scenes": 6}
SEED_FRAMES = {
    "storyboard": [{"scene_id": "s1", "prompt": "cyberpunk ruined gate, neon mist, lone warrior", "narration": "他踏入荒城，霓虹被尘土掩埋。"}],
    "image_style": {"resolution": "768x512", "num_steps": 4, "cfg_scale": 1.5, "seed": 123},
}
# Its frame is a path of the seed's service: replace it with a link from POST /frames.
SEED_CLIPS = {
    "frames": [{"scene_id": "s1", "frame": "/data/frames/s1.png", "duration": 2.0, "transition": "crossfade"}],
    "video": {"fps": 12, "resolution": "720p", "transition_duration": 0.6},
}
SEED_NARRATION = {"lines": [{"scene_id": "s1", "text": "他踏入荒城，霓虹被尘土掩埋。"}], "voice": "cosyvoice-mini", "speed": 1.0, "format": "wav"}


def _example(value: dict) -> dict:
    return {"seed": {"summary": "Seed 003's example", "value": value}}


def task_user(principal: Principal, user_id: str | None) -> str:
    if principal.user_id is not None:
        principal.require(user_id or principal.user_id)
        return principal.user_id
    return user_id or DEFAULT_USER


def _stage_links(links: Links, result: dict) -> dict:
    """The seed's path fields (frame, clip, audio) made absolute (and signed) like every *_url."""
    out = {}
    for name, value in result.items():
        if isinstance(value, list):
            value = [
                {key: links.absolutize({"url": item})["url"] if key in LINK_FIELDS and isinstance(item, str) else item for key, item in entry.items()}
                if isinstance(entry, dict) else entry
                for entry in value
            ]  # fmt: skip
        out[name] = value
    return out


def task_view(record: OperationRecord, links: Links) -> dict:
    result = None
    if record.status == OperationStatus.SUCCESS.value and record.result is not None:
        result = _stage_links(links, record.result) if record.kind in STAGE_KINDS else links.absolutize(record.result)
    return {
        "task_id": record.operation_id,
        "status": _STATUS[record.status],
        "progress": record.progress,
        "result": result,
        "error": (record.error or {}).get("message") if record.status in (OperationStatus.FAILED.value, OperationStatus.CANCELLED.value) else None,
    }


def _pending(record: OperationRecord, links: Links) -> JSONResponse:
    location = f"/api/v1/tasks/{record.operation_id}?{urlencode({'user_id': record.user_id})}"
    return JSONResponse(status_code=202, content=task_view(record, links), headers={"Location": location, "Preference-Applied": "respond-async"})


async def _answer(record: OperationRecord, engine, links: Links, settings, prefer_async: bool) -> JSONResponse:
    if prefer_async:
        return _pending(record, links)
    record = await engine.operations.wait(OperationKey(record.user_id, record.operation_id), settings.sync_wait_timeout_s)
    if not OperationStatus(record.status).is_terminal:
        return _pending(record, links)
    if record.status == OperationStatus.SUCCESS.value:
        return JSONResponse(status_code=200, content={"task_id": record.operation_id, **_stage_links(links, record.result or {})})
    error = {**(record.error or {"code": "internal_error", "message": "the task failed without an error record"}), "task_id": record.operation_id}
    return error_response(status_for_code(error.get("code", "")), error)


@router.post("/storyboard", response_model=StoryboardStageResponse, responses=_RESPONSES)
async def storyboard_stage(
    body: Annotated[StoryboardStageRequest, Body(openapi_examples=_example(SEED_STORYBOARD))],
    principal: PrincipalDep, engine: EngineDep, links: LinksDep, settings: SettingsDep, prefer_async: PreferAsync,
    user_id: str | None = TaskUser,
):  # fmt: skip
    """A storyboard alone: scenes with title, picture prompt, narration and mood; no pictures."""
    return await _answer(engine.stages.storyboard(task_user(principal, user_id), body), engine, links, settings, prefer_async)


@router.post("/frames", response_model=FramesResponse, responses=_RESPONSES)
async def frames_stage(
    body: Annotated[FramesRequest, Body(openapi_examples=_example(SEED_FRAMES))],
    principal: PrincipalDep, engine: EngineDep, links: LinksDep, settings: SettingsDep, prefer_async: PreferAsync,
    user_id: str | None = TaskUser,
):  # fmt: skip
    """One keyframe per given scene."""
    return await _answer(engine.stages.frames(task_user(principal, user_id), body), engine, links, settings, prefer_async)


@router.post("/clips", response_model=ClipsResponse, responses=_RESPONSES)
async def clips_stage(
    body: Annotated[ClipsRequest, Body(openapi_examples=_example(SEED_CLIPS))], principal: PrincipalDep, engine: EngineDep, links: LinksDep, settings: SettingsDep, prefer_async: PreferAsync,
    user_id: str | None = TaskUser,
):  # fmt: skip
    """One silent clip per given keyframe (a link from POST /frames, a story's image_url or an upload's url)."""
    return await _answer(engine.stages.clips(task_user(principal, user_id), body), engine, links, settings, prefer_async)


@router.post("/narration", response_model=NarrationResponse, responses=_RESPONSES)
async def narration_stage(
    body: Annotated[NarrationRequest, Body(openapi_examples=_example(SEED_NARRATION))],
    principal: PrincipalDep, engine: EngineDep, links: LinksDep, settings: SettingsDep, prefer_async: PreferAsync,
    user_id: str | None = TaskUser,
):  # fmt: skip
    """One WAV per given line, in the speech backend's voice (`voice` names one of its voices)."""
    return await _answer(engine.stages.narration(task_user(principal, user_id), body), engine, links, settings, prefer_async)


@router.get("/tasks/{task_id}", response_model=TaskView, responses={404: {"model": ErrorResponse}, 401: {"model": ErrorResponse}})
def get_task(
    principal: PrincipalDep, engine: EngineDep, links: LinksDep, task_id: str = TaskId, user_id: str | None = TaskUser
):
    """Any operation as seed 003's task: `pending | running | done | error`, progress 0..1, and once done the
    stage's result (the operation's seed-shaped result for the other kinds)."""
    if principal.user_id is not None:
        principal.require_visible(user_id or principal.user_id, f"task '{task_id}'")
        user_id = principal.user_id
    return task_view(engine.operations.find(task_id, user_id), links)
