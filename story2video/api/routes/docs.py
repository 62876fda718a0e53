"""Swagger UI at `/docs` and ReDoc at `/redoc`, with every file they load served by the service itself.

FastAPI's own pages load their scripts, styles and favicon from a CDN, so they are blank on an
offline GPU server. These pages load the scripts and styles of the `fastapi-offline` package
(only its files are used) from `ASSETS_PATH`, and the web page's own icon as the favicon. Their
Content-Security-Policy lets the browser load nothing from elsewhere: the bundles still name
outside hosts (ReDoc's "Redocly" logo comes from its CDN), and a page must not wait on those.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from story2video.api.routes.web import STATIC_PATH as UI_PATH
from story2video.api.routes.web import WEB_FONT_FAMILY, WEB_FONT_PATH, WEB_FONT_UNICODE_RANGE

router = APIRouter(include_in_schema=False)
DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
ASSETS_PATH = "/docs-assets"
ASSETS_DIR = files("fastapi_offline") / "static"
# Swagger UI would otherwise send the whole schema to validator.swagger.io for its "valid" badge.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None, "tryItOutEnabled": True}
# blob: is what Swagger UI shows a picture response from, and what ReDoc starts its search worker from.
_POLICY = (
    "default-src 'self'; script-src 'self' {scripts}; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
# The bundled Chinese face, for CJK characters only (Latin keeps each page's own fonts), so the
# Chinese examples do not show as boxes on a machine without a CJK font.
_CJK_STYLE = (
    "<style>@font-face {{ font-family: '{face}'; src: url('{url}') format('opentype'); unicode-range: {range}; }}"
    " body, body *:not(pre):not(code) {{ font-family: '{face}', sans-serif !important; }}"
    " pre, code, pre *, code * {{ font-family: '{face}', monospace !important; }}</style>"
)


def _root(request: Request) -> str:
    """The prefix a proxy serves the app under (ASGI `root_path`), so the page's links work behind it."""
    return request.scope.get("root_path", "").rstrip("/")


def _with_cjk_font(page: HTMLResponse, root: str) -> HTMLResponse:
    style = _CJK_STYLE.format(face=WEB_FONT_FAMILY, url=root + WEB_FONT_PATH, range=WEB_FONT_UNICODE_RANGE)
    body = page.body.decode().replace("</head>", style + "</head>", 1)
    return HTMLResponse(body)


def _same_origin_only(page: HTMLResponse) -> HTMLResponse:
    """Adds the policy; the page's own inline scripts are allowed by their hash, nothing else inline."""
    inline = _INLINE_SCRIPT.findall(page.body.decode())
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'" for script in inline)
    page.headers["Content-Security-Policy"] = _POLICY.format(scripts=hashes)
    return page


@router.get(DOCS_PATH)
def swagger_ui(request: Request) -> HTMLResponse:
    root = _root(request)
    page = get_swagger_ui_html(
        openapi_url=root + request.app.openapi_url,
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{UI_PATH}/icon.svg",
        swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
    )
    return _same_origin_only(_with_cjk_font(page, root))


@router.get(REDOC_PATH)
def redoc(request: Request) -> HTMLResponse:
    root = _root(request)
    page = get_redoc_html(
        openapi_url=root + request.app.openapi_url,
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{UI_PATH}/icon.svg",
        with_google_fonts=False,
    )
    return _same_origin_only(_with_cjk_font(page, root))


def assets() -> StaticFiles:
    """Mount at `ASSETS_PATH` (mounts never appear in the OpenAPI schema)."""
    return StaticFiles(directory=str(ASSETS_DIR))
