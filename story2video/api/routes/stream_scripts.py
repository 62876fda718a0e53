"""Seed 000's script generator endpoints, as thin adapters over /api/v1/scripts.

A client written for that system works unchanged: ``POST /api/stream/generate-script`` with genre,
duration, episodes and characters answers with an SSE stream (the task id, progress and the content
as it is written), ``DELETE /api/stream/cancel/{task_id}`` stops it, and
``POST /api/stream/extract-scene-prompts/{task_id}`` (optional episode) streams a picture description
per scene. The task id is the script's id and its writing operation's id. Every event is sent both
as an SSE ``event:`` name and as ``type`` inside its JSON ``data``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, AsyncIterator

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from story2video.api import examples
from story2video.api.auth import PrincipalDep
from story2video.api.deps import EngineDep
from story2video.api.sse import format_event, stored_events
from story2video.engine import Engine
from story2video.errors import InvalidRequest
from story2video.jobs.keys import OperationKey
from story2video.jobs.states import OperationStatus
from story2video.protocol import ID_PATTERN, ErrorResponse, ExtractScenePromptsRequest, GenerateScriptRequest, ScenePromptsRequest, WriteScriptRequest
from story2video.storage.records import OperationRecord

router = APIRouter(prefix="/api/stream", tags=["seed 000 script generator"])
DEFAULT_USER = "stream"  # whose scripts these are when neither the key nor ?user_id= says
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_ERRORS = {status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 409, 429, 503)}
_STREAMED = {200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}, **_ERRORS}
TaskId = Path(description="The task_id that generate-script answered", openapi_examples=examples.parameter("3f0c9a1d-2b7e-4c5a-8b8d-9e0f1a2b3c4d"))
EpisodeQuery = Query(None, ge=1, description="Only this episode; default: every episode", openapi_examples=examples.parameter(1))
StreamUser = Query(
    None,
    pattern=ID_PATTERN,
    description=f"Whose script it is; default: the key's user, else '{DEFAULT_USER}'",
    openapi_examples=examples.parameter(examples.USER_ID),
)


def _user(principal, user_id: str | None) -> str:
    if principal.user_id is not None:
        principal.require(user_id or principal.user_id)
        return principal.user_id
    return user_id or DEFAULT_USER


def _premise(body: GenerateScriptRequest) -> str:
    if body.premise:
        return body.premise
    said = body.genre + "".join(item if isinstance(item, str) else item.name for item in body.characters)
    chinese = body.language == "zh" or (body.language == "auto" and any("\u4e00" <= char <= "\u9fff" for char in said))
    genre = body.genre or ("剧情" if chinese else "drama")
    return f"一部{genre}题材的短剧" if chinese else f"a short {genre} series"


@router.post("/generate-script", responses=_STREAMED)
async def generate_script(body: Annotated[GenerateScriptRequest, Body(openapi_examples=examples.SEED_GENERATE_SCRIPT)], engine: EngineDep, principal: PrincipalDep, user_id: str | None = StreamUser):
    """Write a script and stream it: `task_id`, then `progress` and `content` events, the structured `cast`,
    `outline` and `episode` events, and `complete` (or `error` / `cancelled`)."""
    user = _user(principal, user_id)
    task_id = str(uuid.uuid4())
    characters = [item for item in body.characters if not isinstance(item, str) or item.strip()] if isinstance(body.characters, list) else body.characters
    try:
        request = WriteScriptRequest(
            operation_id=task_id, user_id=user, script_id=task_id, premise=_premise(body), genre=body.genre, duration=body.duration,
            episodes=body.episodes, characters=characters, style=body.style, language=body.language,
        )  # fmt: skip
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else None
        raise InvalidRequest(f"{field}: {first.get('msg', 'invalid')}", param=field) from None
    record = engine.scripts.write(request)
    return StreamingResponse(_translated(engine, record, task_id), media_type="text/event-stream", headers=_SSE_HEADERS)


@router.delete("/cancel/{task_id}", responses=_ERRORS)
def cancel(engine: EngineDep, principal: PrincipalDep, task_id: str = TaskId, user_id: str | None = StreamUser):
    """Stop a generation (or a scene-prompt extraction): the request to the model is closed, what was written stays."""
    record = engine.operations.find(task_id, _user(principal, user_id) if principal.user_id or user_id else None)
    if OperationStatus(record.status).is_terminal:
        return {"success": False, "task_id": task_id, "status": record.status, "message": f"the task already ended ({record.status})"}
    ended = engine.operations.cancel(OperationKey(record.user_id, record.operation_id))
    return {"success": True, "task_id": task_id, "status": ended.status, "message": "cancelled; the text written so far is kept"}


@router.post("/extract-scene-prompts/{task_id}", responses=_STREAMED)
async def extract_scene_prompts(
    request: Request, engine: EngineDep, principal: PrincipalDep, task_id: str = TaskId, user_id: str | None = StreamUser,
    episode: int | None = EpisodeQuery,
):  # fmt: skip
    """One picture description per scene of the task's script (of one episode when `episode` is given), streamed:
    `task_id`, `content`, `scene_prompts` and one `prompt` per scene, then `complete`."""
    body = ExtractScenePromptsRequest.model_validate(await _json_or_empty(request))
    if body.task_id is not None and body.task_id != task_id:
        raise InvalidRequest("task_id in the body differs from the one in the path", param="task_id")
    return _scene_prompt_stream(engine, principal, task_id, user_id, body.episode or episode)


@router.get("/extract-scene-prompts/{task_id}", responses=_STREAMED)
async def extract_scene_prompts_get(
    engine: EngineDep, principal: PrincipalDep, task_id: str = TaskId, user_id: str | None = StreamUser, episode: int | None = EpisodeQuery
):
    """The same as the POST, as the seed's page calls it (no body; `?episode=`)."""
    return _scene_prompt_stream(engine, principal, task_id, user_id, episode)


def _scene_prompt_stream(engine: Engine, principal, task_id: str, user_id: str | None, episode: int | None) -> StreamingResponse:
    written = engine.operations.find(task_id, _user(principal, user_id) if principal.user_id or user_id else None)
    prompts = ScenePromptsRequest(operation_id=f"prompts-{uuid.uuid4().hex}", user_id=written.user_id, episode=episode)
    record = engine.scripts.scene_prompts(written.story_id, prompts)
    return StreamingResponse(_translated(engine, record, task_id), media_type="text/event-stream", headers=_SSE_HEADERS)


async def _json_or_empty(request: Request) -> dict:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise InvalidRequest("the body is not JSON", param="body") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object", param="body")
    return data


async def _translated(engine: Engine, record: OperationRecord, task_id: str) -> AsyncIterator[str]:
    """The operation's events in seed 000's words."""
    key = OperationKey(record.user_id, record.operation_id)
    yield _event("task_id", task_id, operation_id=record.operation_id, script_id=record.story_id)
    async for event in stored_events(key, engine.operations, 0):
        if event is None:
            yield ": keep-alive\n\n"
            continue
        for name, data in _seed_events(event.type, event.data):
            yield _event(name, task_id, event_id=event.seq, **data)


def _seed_events(kind: str, data: dict) -> list[tuple[str, dict]]:
    if kind == "script.delta":
        return [("content", {"content": data["text"], "section": data["part"], "episode": data["episode"], "offset": data["offset"], "attempt": data["attempt"]})]
    if kind == "script.restart":
        return [("content_reset", {"section": data["part"], "episode": data["episode"], "attempt": data["attempt"]})]
    if kind in ("stage", "progress"):
        return [("progress", {"progress": round(100 * data["progress"]), "stage": data["stage"]})]
    if kind == "script.cast":
        return [("cast", data)]
    if kind == "script.outline":
        return [("outline", data)]
    if kind == "script.episode":
        return [("episode", data)]
    if kind == "script.scene_prompts":
        return [("scene_prompts", data)] + [("prompt", {"episode": data["episode"], **prompt}) for prompt in data["prompts"]]
    if kind == "operation.completed":
        return [("progress", {"progress": 100, "stage": "done"}), ("complete", {"status": "completed"})]
    if kind == "operation.failed":
        return [("error", {"error": data.get("error")})]
    if kind == "operation.cancelled":
        return [("cancelled", {"error": data.get("error")})]
    return []


def _event(name: str, task_id: str, event_id: int | None = None, **data: object) -> str:
    return format_event(name, {"type": name, "task_id": task_id, **data}, event_id)



