"""The page and its assets are served by the service itself (no browser needed)."""

from __future__ import annotations

import re

from story2video.web import STATIC_DIR


def test_root_serves_the_page_without_caching(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert '<script type="module" src="ui/app.js">' in response.text


def test_every_asset_the_page_and_modules_name_is_served(client):
    page = client.get("/").text
    names = set(re.findall(r'(?:src|href)="ui/([^"]+)"', page))
    for module in STATIC_DIR.glob("*.js"):
        names.update(re.findall(r'from "\./([^"]+)"', module.read_text(encoding="utf-8")))
    assert {"app.js", "style.css", "api.js", "i18n.js"} <= names
    for name in sorted(names):
        response = client.get(f"/ui/{name}")
        assert response.status_code == 200, name
        assert response.headers["cache-control"] == "no-cache"
        if name.endswith(".js"):
            assert "javascript" in response.headers["content-type"], name


def test_the_page_stays_out_of_the_api_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert not any(path.startswith("/ui") for path in paths)


def test_assets_load_nothing_from_outside(client):
    for path in STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href|url\()\s*=?\s*["']?(https?:)?//""", text), path.name
