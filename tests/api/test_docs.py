"""Swagger UI (/docs) and ReDoc (/redoc) load every file from the service itself: they work on a
server without internet. (In a browser: tests/web/test_api_docs.py.)"""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from fastapi.testclient import TestClient

from story2video.api.routes.docs import ASSETS_DIR

PAGES = ("/docs", "/redoc")
# Every way these pages name a file: <link href>, <script src>, ReDoc's spec-url, Swagger UI's `url:`.
REFERENCE = re.compile(r"""(?:\b(?:href|src|spec-url)=|\burl:\s*)["']([^"']+)["']""")
# Anything that would make the browser leave the service: absolute or protocol-relative URLs.
OUTSIDE = re.compile(r"""(?i)(?:\b[a-z][a-z0-9+.-]*:)?//[^\s"'<>]*""")
CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".svg": "image/svg+xml", ".json": "application/json"}


def _references(client: TestClient, page: str) -> list[str]:
    response = client.get(page)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert not OUTSIDE.findall(response.text), f"{page} points outside the service"
    return REFERENCE.findall(response.text)


def _assert_served(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    suffix = url[url.rfind(".") :]
    assert CONTENT_TYPES[suffix] in response.headers["content-type"], (url, response.headers["content-type"])
    assert len(response.content) > 100, url


@pytest.mark.parametrize("page", PAGES)
def test_docs_page_and_every_file_it_loads_are_served_by_the_app(client, page):
    references = _references(client, page)
    assert "/openapi.json" in references and "/ui/icon.svg" in references, references
    assert any(url.endswith(".js") for url in references), references
    for url in references:
        assert url.startswith("/"), url
        _assert_served(client, url)


def test_the_pages_load_the_packaged_swagger_ui_and_redoc():
    assert {"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"} <= {entry.name for entry in ASSETS_DIR.iterdir()}


def test_swagger_ui_sends_the_schema_to_no_validator(client):
    """Swagger UI's default posts the schema to validator.swagger.io for a badge."""
    assert '"validatorUrl": null' in client.get("/docs").text


def test_redoc_loads_no_google_fonts(client):
    assert "fonts.googleapis.com" not in client.get("/redoc").text


@pytest.mark.parametrize("page", PAGES)
def test_docs_links_follow_the_proxy_prefix(make_client, page):
    """Behind a proxy that serves the app under /s2v (ASGI root_path), every link carries the prefix."""
    client = make_client()
    prefixed = TestClient(client.app, root_path="/s2v")
    references = _references(prefixed, page)
    assert references and all(url.startswith("/s2v/") for url in references), references
    for url in references:
        _assert_served(prefixed, url)


def test_docs_stay_open_when_api_keys_are_on(make_client):
    client = make_client(api_keys="key-for-user-a-0123456789:u-001")
    for page in PAGES:
        for url in _references(client, page):
            _assert_served(client, url)
    assert client.get("/api/v1/stories", params={"user_id": "u-001"}).status_code == 401


def test_docs_pages_stay_out_of_the_api_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert not any(path.startswith(("/docs", "/redoc")) for path in paths)


@pytest.mark.parametrize("page", PAGES)
def test_docs_pages_let_the_browser_load_only_from_the_service(client, page):
    """The bundled scripts still name outside hosts (ReDoc's logo is on its CDN): the policy keeps the
    browser from trying them, and allows the page's own inline script by its hash alone."""
    response = client.get(page)
    policy = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
    for directive in ("default-src", "img-src", "connect-src", "font-src", "worker-src", "script-src", "style-src"):
        sources = policy[directive].split()
        assert "'self'" in sources and not any(source.startswith(("http", "*")) for source in sources), (directive, sources)
    script_sources = policy["script-src"].split()
    assert "'unsafe-inline'" not in script_sources and "'unsafe-eval'" not in script_sources
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    expected = {"'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'" for script in inline}
    assert expected == {source for source in script_sources if source.startswith("'sha256-")}
