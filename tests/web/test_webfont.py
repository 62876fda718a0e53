"""The page draws Chinese with a web font the service serves (Noto Sans SC), not with a font the browser's
machine may lack: the stylesheet declares it, the route serves it cacheably, and Chromium with no CJK
font of its own draws the Chinese UI with it."""

from __future__ import annotations

import io
import re
from urllib.parse import urljoin

import pytest
from PIL import ImageFont

from story2video.api.routes import web
from story2video.web import STATIC_DIR
from tests.web.conftest import rendered_fonts, screenshot

FAMILY = web.WEB_FONT_FAMILY
STYLESHEET_URL = "http://service/ui/style.css"


def font_faces(css: str) -> list[str]:
    return re.findall(r"@font-face\s*\{([^}]*)\}", css)


def descriptor(face: str, name: str) -> str:
    found = re.search(rf"(?:^|;|\s){name}\s*:\s*([^;]+);", face)
    assert found, f"@font-face without {name}"
    return found.group(1).strip()


def covers(unicode_range: str, codepoint: int) -> bool:
    for part in unicode_range.split(","):
        low, _, high = part.strip().removeprefix("U+").partition("-")
        if int(low, 16) <= codepoint <= int(high or low, 16):
            return True
    return False


def our_face() -> str:
    faces = [face for face in font_faces((STATIC_DIR / "style.css").read_text(encoding="utf-8")) if FAMILY in face]
    assert len(faces) == 1, f"style.css declares no @font-face for {FAMILY!r}"
    return faces[0]


def test_the_stylesheet_declares_the_web_font_for_cjk_only() -> None:
    face = our_face()
    source = re.fullmatch(r'url\("([^"]+)"\)\s+format\("opentype"\)', descriptor(face, "src"))
    assert source, descriptor(face, "src")
    assert urljoin(STYLESHEET_URL, source.group(1)) == f"http://service{web.WEB_FONT_PATH}"
    unicode_range = descriptor(face, "unicode-range")
    assert " ".join(unicode_range.split()) == web.WEB_FONT_UNICODE_RANGE  # the docs pages declare the same range
    for char in "中文骨直，。「」ぁ":
        assert covers(unicode_range, ord(char)), char
    for char in "Az09 -–—“”…":  # Latin text keeps the system stack and never downloads the CJK font
        assert not covers(unicode_range, ord(char)), char


def test_the_page_font_stack_falls_back_to_the_web_font_before_the_generic_family() -> None:
    css = (STATIC_DIR / "style.css").read_text(encoding="utf-8")
    stack = [name.strip().strip('"') for name in re.search(r"--font:\s*([^;]+);", css).group(1).split(",")]
    assert stack[-2:] == [FAMILY, "sans-serif"]
    # Chromium never redraws text laid out before the web font loaded when system-ui precedes it.
    assert "system-ui" not in stack


def test_the_web_font_is_served_as_a_cacheable_font(client) -> None:
    response = client.get(web.WEB_FONT_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "font/otf"
    cache = response.headers["cache-control"]
    assert "public" in cache and int(re.search(r"max-age=(\d+)", cache).group(1)) >= 30 * 24 * 3600
    assert response.content[:4] == b"OTTO"  # OpenType with CFF outlines
    font = ImageFont.truetype(io.BytesIO(response.content), 32)
    assert font.getname() == ("Noto Sans SC", "Regular")
    assert len({bytes(font.getmask(char)) for char in "中文字幕"}) == 4  # real glyphs, not four .notdef boxes

    etag = response.headers["etag"]
    again = client.get(web.WEB_FONT_PATH, headers={"If-None-Match": f'W/{etag}, "other"'})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag and again.headers["cache-control"] == cache
    head = client.head(web.WEB_FONT_PATH)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(response.content))


def test_the_web_font_needs_no_api_key(make_client) -> None:
    client = make_client(api_keys="key-for-user-a-0123456789:u-001")
    assert client.get("/api/v1/stories").status_code == 401
    assert client.get(web.WEB_FONT_PATH).status_code == 200


def test_a_missing_font_package_is_a_plain_404(client, monkeypatch) -> None:
    monkeypatch.setattr(web, "bundled_cjk_font", lambda: None)
    response = client.get(web.WEB_FONT_PATH)
    assert response.status_code == 404
    assert "pylopdf-fonts-zh-cn" in response.json()["error"]["message"]


def assert_drawn_with_the_web_font(page, selector: str) -> None:
    """``selector`` holds only Chinese, and every glyph of it comes from the web font."""
    text = page.locator(selector).text_content()
    assert re.fullmatch(r"[\u4e00-\u9fff\uff0c]+", text), text
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")  # laid out again
    fonts = rendered_fonts(page, selector)
    assert [(font["familyName"], font["isCustomFont"]) for font in fonts] == [("Noto Sans SC", True)], f"{selector} {text!r}: {fonts}"


WEB_FONT_LOADED = '() => [...document.fonts].some(face => face.family.replace(/"/g, "") === "%s" && face.status === "loaded")' % FAMILY


@pytest.mark.browser
def test_chromium_without_cjk_fonts_draws_chinese_with_the_web_font(open_page, live_service) -> None:
    page = open_page()
    outside: list[str] = []

    def only_the_service(route) -> None:
        if route.request.url.startswith(live_service.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_service)
    page.goto("/")
    page.wait_for_function(WEB_FONT_LOADED)  # asked for by the page itself: nothing here loads it
    # The English page's only Chinese, laid out before the font arrived, is redrawn with it.
    assert_drawn_with_the_web_font(page, '.lang-button[data-lang="zh"]')
    page.get_by_role("button", name="中文").click()
    page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
    assert_drawn_with_the_web_font(page, ".brand-tagline")
    assert_drawn_with_the_web_font(page, '.lang-button[data-lang="zh"]')
    assert not outside
    screenshot(page, "30-chinese-web-font", full_page=False)
