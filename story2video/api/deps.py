"""Typed dependency aliases for the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request

from story2video.config import Settings
from story2video.engine import Engine
from story2video.jobs.operations import OperationService
from story2video.uploads.service import UploadService


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_operations(request: Request) -> OperationService:
    return request.app.state.engine.operations


# Shown, not pre-filled in /docs: "Try it out" then gets the seed's waiting answer.
async def wants_async(prefer: Annotated[str | None, Header(examples=["respond-async"])] = None) -> bool:
    """RFC 7240: ``Prefer: respond-async`` asks for 202 + Location instead of waiting."""
    if not prefer:
        return False
    return any(token.strip().lower() == "respond-async" for token in prefer.split(","))


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
OperationsDep = Annotated[OperationService, Depends(get_operations)]
PreferAsync = Annotated[bool, Depends(wants_async)]
PageLimit = Annotated[int, Query(ge=1, le=500, description="At most this many items", examples=[20])]
PageOffset = Annotated[int, Query(ge=0, le=1_000_000, description="Items skipped from the start", examples=[20])]


async def get_uploads(request: Request) -> UploadService:
    return request.app.state.engine.uploads


UploadsDep = Annotated[UploadService, Depends(get_uploads)]
