"""Seed 001's notification socket: ``ws://<host>/ws/notifications?token=<access_token>``.

One socket per user pushes the events of all of that user's operations (api/notifications.py). It is
authenticated like the REST API: an access token or an API key, in ``?token=`` (browsers cannot set
headers on a WebSocket) or in ``Authorization: Bearer`` / ``X-API-Key``. A caller who may act for any
user (an unscoped key, or no authentication configured) names the user with ``?user_id=``. A refused
socket gets the REST error body with 401/403/400 where the server can send it, else close code 1008.
"""

from __future__ import annotations

import asyncio
import re
from contextlib import suppress

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from loguru import logger

from story2video.api.auth import Principal, identify_for
from story2video.api.errors import response_for
from story2video.api.notifications import user_notifications
from story2video.api.urls import Links
from story2video.errors import InvalidRequest, Story2VideoError
from story2video.protocol import ID_PATTERN

router = APIRouter(tags=["notifications"])
POLICY_VIOLATION = 1008
_ID = re.compile(ID_PATTERN)


def _user_of(principal: Principal, requested: str | None) -> str:
    if requested is not None and not _ID.fullmatch(requested):
        raise InvalidRequest("user_id must match " + ID_PATTERN, param="user_id")
    if principal.user_id is not None:
        principal.require(requested or principal.user_id)
        return principal.user_id
    if requested is None:
        raise InvalidRequest("say whose notifications with ?user_id= (this caller may act for any user)", param="user_id")
    return requested


def _after(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        raise InvalidRequest("after must be the event_id of a message (a whole number)", param="after")
    return int(value)


def _links(websocket: WebSocket) -> Links:
    settings = websocket.app.state.settings
    base = settings.public_base_url or str(websocket.base_url).replace("ws", "http", 1)
    return Links(base.rstrip("/"), websocket.app.state.artifact_signer)


def _absolutizer(links: Links):
    def absolutize(message: dict) -> dict:
        out = links.absolutize(message)
        if "resources" in out:
            out["resources"] = [links.absolutize({"url": resource})["url"] for resource in out["resources"]]
        return out

    return absolutize


async def _refuse(websocket: WebSocket, error: Story2VideoError) -> None:
    response: JSONResponse = response_for(error)
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(response)
    else:
        await websocket.close(code=POLICY_VIOLATION, reason=error.message[:120])


@router.websocket("/ws/notifications")
async def notifications(websocket: WebSocket):
    """Messages (JSON text frames): every event of the user's operations as `{type, event_id, operation_id,
    kind, story_id, ...}` (the SSE event's data), and seed 001's `segment_finished` / `segment_failed`.
    `?after=<event_id>` replays what came after that message (reconnecting); otherwise it starts now."""
    query = websocket.query_params
    try:
        principal = identify_for(websocket.app, websocket.headers, query.get("token"))
        user_id = _user_of(principal, query.get("user_id"))
        after = _after(query.get("after"))
    except Story2VideoError as error:
        await _refuse(websocket, error)
        return
    operations = websocket.app.state.engine.operations
    if after is None:  # fixed before the socket opens: whatever happens once it is open is sent
        after = await asyncio.to_thread(operations.events.last_id_for_user, user_id)
    await websocket.accept()
    stream = user_notifications(user_id, operations, _absolutizer(_links(websocket)), after)
    listener = asyncio.create_task(_until_closed(websocket))
    try:
        while True:
            next_message = asyncio.ensure_future(anext(stream))
            done, _ = await asyncio.wait({next_message, listener}, return_when=asyncio.FIRST_COMPLETED)
            if listener in done:
                next_message.cancel()
                with suppress(asyncio.CancelledError, StopAsyncIteration):
                    await next_message
                return
            await websocket.send_json(next_message.result())
    except WebSocketDisconnect:
        return
    except Exception:
        logger.exception("the notification socket of user {} failed", user_id)
        with suppress(Exception):
            await websocket.close(code=1011)
    finally:
        listener.cancel()
        await stream.aclose()


async def _until_closed(websocket: WebSocket) -> None:
    """Reads (and ignores) what the client sends, until it goes away."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
