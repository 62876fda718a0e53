"""The web page: `GET /` serves the single-page UI; its scripts and styles are under `/ui/`, and the
Chinese web font under `/fonts/`, so a browser draws Chinese without any font of its own."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from story2video.errors import NotFound
from story2video.media.fonts import bundled_cjk_font
from story2video.web import INDEX_HTML, STATIC_DIR

router = APIRouter(include_in_schema=False)
STATIC_PATH = "/ui"
# The page and its modules change with each release; the browser revalidates them (ETag) every time.
NO_CACHE = {"Cache-Control": "no-cache"}
# Served as is (8 MB, fetched only for CJK characters: see style.css): WOFF2 would save about a quarter
# but needs fontTools and brotli at run time and half a minute of CPU to build. The file changes only
# when the pinned font package does, so browsers keep it for a year, then revalidate by ETag.
WEB_FONT_PATH = "/fonts/noto-sans-sc.otf"
# How style.css declares the font (a test holds the two together); the docs pages declare it the same way.
WEB_FONT_FAMILY = "S2V Noto Sans SC"
WEB_FONT_UNICODE_RANGE = "U+2E80-33FF, U+3400-4DBF, U+4E00-9FFF, U+F900-FAFF, U+FE10-FE1F, U+FE30-FE4F, U+FF00-FFEF, U+20000-323AF"
FONT_CACHE = {"Cache-Control": "public, max-age=31536000"}


@router.get("/")
def index() -> FileResponse:
    return FileResponse(INDEX_HTML, media_type="text/html", headers=NO_CACHE)


@router.api_route(WEB_FONT_PATH, methods=["GET", "HEAD"])
def web_font(request: Request) -> Response:
    path = bundled_cjk_font()
    if path is None:
        raise NotFound("the web font is not installed: pip install -r requirements-api.txt (pylopdf-fonts-zh-cn)")
    response = FileResponse(path, media_type="font/otf", headers=FONT_CACHE, stat_result=os.stat(path))
    if _matches(request.headers.get("if-none-match", ""), response.headers["etag"]):
        return Response(status_code=304, headers={**FONT_CACHE, "ETag": response.headers["etag"]})
    return response


def _matches(if_none_match: str, etag: str) -> bool:
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return etag in tags or "*" in tags


class _RevalidatedStaticFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope):
        response = await super().get_response(path, scope)
        response.headers.update(NO_CACHE)
        return response


def static_files() -> StaticFiles:
    """Mount at `STATIC_PATH` (mounts never appear in the OpenAPI schema)."""
    return _RevalidatedStaticFiles(directory=STATIC_DIR)
