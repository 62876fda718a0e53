"""A story's files: the list, one file, or a zip of several, streamed as it is written."""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse, Response, StreamingResponse

from story2video.api import examples
from story2video.api.auth import PrincipalDep
from story2video.api.deps import EngineDep
from story2video.api.urls import LinksDep
from story2video.pipeline.deps import artifact_url
from story2video.pipeline.files import StoryFile, zip_stream
from story2video.protocol import ID_PATTERN, ErrorResponse, StoryFileInfo

router = APIRouter(prefix="/api/v1/stories", tags=["files"])
UserId = Query(pattern=ID_PATTERN, description="The user the story belongs to", openapi_examples=examples.parameter(examples.USER_ID))
StoryId = Path(pattern=ID_PATTERN, openapi_examples=examples.parameter(examples.STORY_ID))
FileKind = Literal["storyboard", "video", "subtitles", "reference", "keyframe", "narration", "clip", "segment"]
KindQuery = Query(None, description="Only the files of this kind", examples=["keyframe"])
NameQuery = Query(None, max_length=200, description="One file, by the `name` the list gives", examples=["shots/001-s1/keyframe.png"])
_RESPONSES = {400: {"model": ErrorResponse}, 401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}}


def _info(file: StoryFile) -> dict:
    return {
        "name": file.name,
        "kind": file.kind,
        "shot_id": file.shot_id,
        "size_bytes": file.size_bytes,
        "media_type": file.media_type,
        "url": artifact_url(file.artifact),
    }


def attachment(filename: str) -> dict[str, str]:
    """Content-Disposition for a download, with an ASCII fallback and the UTF-8 name (RFC 6266)."""
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return {"Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"}


@router.get("/{story_id}/files", response_model=list[StoryFileInfo], responses=_RESPONSES)
def list_files(
    engine: EngineDep, principal: PrincipalDep, links: LinksDep, story_id: str = StoryId, user_id: str = UserId, kind: FileKind | None = KindQuery
):
    """Every file of the story with its kind, shot and size: the storyboard (JSON), the final video and its
    SRT, the cast's reference pictures, and each shot's keyframe, narration, clip and segment."""
    principal.require_visible(user_id, f"story '{story_id}'")
    return links.absolutize([_info(file) for file in engine.story_files(user_id, story_id, kind)])


@router.get(
    "/{story_id}/files/download",
    responses={200: {"content": {"application/zip": {}, "video/mp4": {}, "image/png": {}}}, **_RESPONSES},
)
def download_files(
    engine: EngineDep,
    principal: PrincipalDep,
    story_id: str = StoryId,
    user_id: str = UserId,
    kind: FileKind | None = KindQuery,
    name: str | None = NameQuery,
) -> Response:
    """Seed 001's rule: with `name`, that file; else all files (of `kind`): the file itself when there is
    only one, otherwise a zip streamed as it is written (stored entries, ZIP64 when needed)."""
    principal.require_visible(user_id, f"story '{story_id}'")
    files = engine.files_to_download(user_id, story_id, kind, name)
    if len(files) == 1:
        return _one_file(engine, files[0])
    chunks, size = zip_stream(engine.deps.store, files)
    filename = f"{story_id}-{kind}.zip" if kind else f"{story_id}.zip"
    headers = {**attachment(filename), "Content-Length": str(size)}
    return StreamingResponse(chunks, media_type="application/zip", headers=headers)


def _one_file(engine, file: StoryFile) -> Response:
    filename = file.name.replace("/", "_")
    if file.artifact is None:
        return Response(file.data or b"", media_type=file.media_type, headers=attachment(filename))
    return FileResponse(engine.deps.store.path_of(file.artifact), media_type=file.media_type, headers=attachment(filename))
