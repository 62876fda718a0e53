"""Editor exports of a story's render: OpenTimelineIO, FCPXML, EDL, and a Jianying draft (zip)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response, StreamingResponse

from story2video.api import examples
from story2video.api.auth import PrincipalDep
from story2video.api.deps import EngineDep
from story2video.api.routes.files import attachment
from story2video.pipeline.files import zip_stream
from story2video.protocol import ID_PATTERN, ErrorResponse

router = APIRouter(prefix="/api/v1/stories", tags=["files"])
UserId = Query(pattern=ID_PATTERN, description="The user the story belongs to", openapi_examples=examples.parameter(examples.USER_ID))
StoryId = Path(pattern=ID_PATTERN, openapi_examples=examples.parameter(examples.STORY_ID))
MediaRoot = Query(
    "",
    max_length=500,
    description="Put before every media name (the names of the story's zip), e.g. file:///Users/me/story-001/; empty: relative names",
    examples=["file:///Users/me/story-001/"],
)
DraftFolder = Query(
    "",
    max_length=500,
    description="Your Jianying drafts folder (e.g. C:/Users/me/AppData/Local/JianyingPro/User Data/Projects/com.lveditor.draft): "
    "Jianying takes absolute media paths only; unzip the draft there. Empty: relative paths (Jianying asks to relink)",
    examples=["C:/Users/me/AppData/Local/JianyingPro/User Data/Projects/com.lveditor.draft"],
)
_TYPES = {"otio": ("application/json", "otio"), "fcpxml": ("application/xml", "fcpxml"), "edl": ("text/plain; charset=utf-8", "edl")}
_RESPONSES = {401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}}


@router.get("/{story_id}/export/jianying", responses={200: {"content": {"application/zip": {}}}, **_RESPONSES}, name="export_jianying")
def export_jianying(engine: EngineDep, principal: PrincipalDep, story_id: str = StoryId, user_id: str = UserId, draft_folder: str = DraftFolder):
    """A Jianying (剪映专业版 5.9) draft folder as a zip: draft_content.json with video, narration and subtitle
    tracks, draft_meta_info.json, and the media in materials/."""
    principal.require_visible(user_id, f"story '{story_id}'")
    chunks, size = zip_stream(engine.deps.store, engine.jianying_export(user_id, story_id, draft_folder))
    headers = {**attachment(f"{story_id}-jianying.zip"), "Content-Length": str(size)}
    return StreamingResponse(chunks, media_type="application/zip", headers=headers)


@router.get("/{story_id}/export/{export_format}", responses={200: {"content": {"application/json": {}, "application/xml": {}, "text/plain": {}}}, **_RESPONSES})
def export_timeline(
    engine: EngineDep,
    principal: PrincipalDep,
    export_format: Annotated[Literal["otio", "fcpxml", "edl"], Path(description="The timeline format", examples=["otio"])],
    story_id: str = StoryId,
    user_id: str = UserId,
    media_root: str = MediaRoot,
) -> Response:
    """The render as an editor timeline: every shot's segment with its in and out points and the crossfades,
    the narration (not in EDL: one video track) and the subtitles (OTIO markers; the SRT is `subtitles.srt`)."""
    principal.require_visible(user_id, f"story '{story_id}'")
    text = engine.timeline_export(user_id, story_id, export_format, media_root)
    media_type, extension = _TYPES[export_format]
    return Response(text, media_type=media_type, headers=attachment(f"{story_id}.{extension}"))
