"""Users' pictures and audio: sent as the request body, or imported from an allow-listed URL.

An upload is referenced by its ``upload_id`` in ``/shot/regenerate`` (``image_upload_id``: the
shot's keyframe) and ``/video/render`` (``music_upload_id``: the music bed).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request, Response

from story2video.api import examples
from story2video.api.auth import PrincipalDep
from story2video.api.deps import PageLimit, PageOffset, UploadsDep
from story2video.protocol import ID_PATTERN, ErrorResponse, ImportUploadRequest, Upload
from story2video.api.urls import LinksDep
from story2video.presenters import upload_view
from story2video.storage.records import UploadRecord
from story2video.uploads.service import UploadService

UPLOAD_PATH = "/api/v1/uploads"
FILE_MEDIA_TYPES = ("image/png", "image/jpeg", "image/webp", "audio/wav", "audio/mpeg", "audio/flac", "audio/ogg", "audio/mp4", "application/octet-stream")

router = APIRouter(prefix=UPLOAD_PATH, tags=["uploads"])
ImportBody = Annotated[ImportUploadRequest, Body(openapi_examples=examples.IMPORT_UPLOAD)]
UserId = Query(pattern=ID_PATTERN, description="The user the upload belongs to", openapi_examples=examples.parameter(examples.USER_ID))
UploadId = Path(pattern=ID_PATTERN, openapi_examples=examples.parameter(examples.UPLOAD_ID))
_READ_RESPONSES = {401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}}
_WRITE_RESPONSES = {
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse},
    413: {"model": ErrorResponse, "description": "The file is larger than MAX_UPLOAD_BYTES, or its picture than MAX_UPLOAD_PIXELS"},
    415: {"model": ErrorResponse, "description": "The file is none of the accepted formats"},
    507: {"model": ErrorResponse, "description": "No space left to store the file"},
}
_FILE_BODY = {
    "requestBody": {
        "required": True,
        "description": "The file itself (not a form): PNG, JPEG or WebP pictures; WAV, MP3, FLAC, Ogg or M4A audio. "
        "Its first bytes decide the format, whatever the Content-Type says.",
        "content": {media_type: {"schema": {"type": "string", "format": "binary"}} for media_type in FILE_MEDIA_TYPES},
    }
}


def _created(uploads: UploadService, links, upload: UploadRecord, response: Response) -> dict:
    response.headers["Location"] = f"{UPLOAD_PATH}/{upload.upload_id}?user_id={upload.user_id}"
    return links.absolutize(upload_view(uploads.store, upload))


@router.post("", status_code=201, response_model=Upload, responses=_WRITE_RESPONSES, openapi_extra=_FILE_BODY)
async def upload_file(
    request: Request,
    response: Response,
    uploads: UploadsDep,
    principal: PrincipalDep,
    links: LinksDep,
    user_id: str = UserId,
    filename: str = Query(
        "", max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$", description="The file's name, kept for display", openapi_examples=examples.parameter("window.jpg")
    ),
):
    """Store a picture (for a shot's keyframe) or audio (for the music), checked and normalised.

    `curl --data-binary @photo.jpg -H 'Content-Type: image/jpeg' '…/api/v1/uploads?user_id=u-001'`
    """
    principal.require(user_id)
    upload = await uploads.receive(user_id, request.stream(), filename)
    return _created(uploads, links, upload, response)


@router.post("/from-url", status_code=201, response_model=Upload, responses={**_WRITE_RESPONSES, 400: {"model": ErrorResponse}})
async def import_from_url(body: ImportBody, response: Response, uploads: UploadsDep, principal: PrincipalDep, links: LinksDep):
    """Fetch a picture or audio file from a host in UPLOAD_URL_HOSTS (public addresses only, unless
    UPLOAD_URL_ALLOW_PRIVATE), then check and store it like an upload."""
    principal.require(body.user_id)
    upload = await uploads.import_url(body.user_id, body.url)
    return _created(uploads, links, upload, response)


@router.get("", response_model=list[Upload], responses=_READ_RESPONSES)
def list_uploads(
    uploads: UploadsDep,
    principal: PrincipalDep,
    links: LinksDep,
    user_id: str = UserId,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
):
    """The user's uploads, newest first."""
    principal.require(user_id)
    return links.absolutize([upload_view(uploads.store, upload) for upload in uploads.repo.list(user_id, limit, offset)])


@router.get("/{upload_id}", response_model=Upload, responses=_READ_RESPONSES)
def get_upload(uploads: UploadsDep, principal: PrincipalDep, links: LinksDep, upload_id: str = UploadId, user_id: str = UserId):
    principal.require_visible(user_id, f"upload '{upload_id}'")
    return links.absolutize(upload_view(uploads.store, uploads.get(user_id, upload_id)))


@router.delete("/{upload_id}", status_code=204, responses=_READ_RESPONSES)
async def delete_upload(uploads: UploadsDep, principal: PrincipalDep, upload_id: str = UploadId, user_id: str = UserId) -> Response:
    """Forget the upload and delete its file. Keyframes already made from it stay with their shots."""
    principal.require_visible(user_id, f"upload '{upload_id}'")
    await uploads.delete(user_id, upload_id)
    return Response(status_code=204)
