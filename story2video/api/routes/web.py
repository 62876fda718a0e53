"""The web page: `GET /` serves the single-page UI; its scripts and styles are under `/ui/`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from story2video.web import INDEX_HTML, STATIC_DIR

router = APIRouter(include_in_schema=False)
STATIC_PATH = "/ui"
# The page and its modules change with each release; the browser revalidates them (ETag) every time.
NO_CACHE = {"Cache-Control": "no-cache"}


@router.get("/")
def index() -> FileResponse:
    return FileResponse(INDEX_HTML, media_type="text/html", headers=NO_CACHE)


class _RevalidatedStaticFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope):
        response = await super().get_response(path, scope)
        response.headers.update(NO_CACHE)
        return response


def static_files() -> StaticFiles:
    """Mount at `STATIC_PATH` (mounts never appear in the OpenAPI schema)."""
    return _RevalidatedStaticFiles(directory=STATIC_DIR)
