"""/docs (Swagger UI) and /redoc (ReDoc) in headless Chromium with every request to another host
refused, as on a GPU server without internet. Screenshots: test-artifacts/screenshots/docs-*.png."""

from __future__ import annotations

import re

import pytest

from story2video.api import examples
from tests.web.conftest import TIMEOUT_MS, rendered_fonts, screenshot

pytestmark = pytest.mark.browser

CREATE = "#operations-storyboard-create_storyboard_api_v1_storyboard_create_post"
# Records what the page's Content-Security-Policy refused (it must be outside hosts only).
RECORD_REFUSALS = "window.refused = []; document.addEventListener('securitypolicyviolation', e => window.refused.push(e.blockedURI));"


# Gives the id "cjk-text" to the first element under a selector with Chinese in its own text.
MARK_FIRST_CJK_TEXT = """selector => {
  const walker = document.createTreeWalker(document.querySelector(selector), NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (/[\\u4e00-\\u9fff]/.test(node.data)) { node.parentElement.id = "cjk-text"; return; }
  }
  throw new Error("no Chinese text under " + selector);
}"""


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture
def offline_page(chromium_browser, live_service):
    """A page that can reach the service and nothing else; yields (page, outside requests, page errors)."""
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", base_url=live_service.url)
    context.set_default_timeout(TIMEOUT_MS)
    outside: list[str] = []

    def only_the_service(route):
        if route.request.url.startswith(live_service.url + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_the_service)
    context.add_init_script(RECORD_REFUSALS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page, outside, errors
    context.close()


def _refused_of_our_own(page, service_url: str) -> list[str]:
    """What the policy refused that is not on another host (our own files, inline code, eval)."""
    return [uri for uri in page.evaluate("window.refused") if not uri.startswith(("http://", "https://")) or uri.startswith(service_url)]


def test_swagger_ui_lists_the_operations_and_runs_the_walkthrough_example_offline(offline_page, live_service):
    page, outside, errors = offline_page
    page.goto("/docs")
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/storyboard/create")).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/operations/{operation_id}/events")).to_be_visible()
    assert page.locator(".opblock").count() >= 15
    screenshot(page, "docs-swagger-ui", full_page=False)

    create = page.locator(CREATE)
    create.locator(".opblock-summary").click()
    body = create.locator("textarea.body-param__text")
    expect(body).to_have_value(re.compile(examples.SCRIPT))
    create.get_by_role("button", name="Execute").click()
    expect(create.locator(".live-responses-table tbody .response-col_status")).to_have_text("200", timeout=60_000)
    expect(create.locator(".live-responses-table tbody .response-col_description")).to_contain_text('"status": "Success"')
    # The example's Chinese is drawn with the service's own web font, not as boxes (no CJK font here).
    page.evaluate(MARK_FIRST_CJK_TEXT, f"{CREATE} .live-responses-table")
    fonts = rendered_fonts(page, "#cjk-text")
    assert ("Noto Sans SC", True) in [(font["familyName"], font["isCustomFont"]) for font in fonts], fonts
    screenshot(page, "docs-swagger-ui-executed", full_page=False)

    assert outside == [] and errors == []
    assert _refused_of_our_own(page, live_service.url) == []


def test_redoc_renders_offline(offline_page, live_service):
    page, outside, errors = offline_page
    page.goto("/redoc")
    expect(page.get_by_role("heading", name="Story2Video", exact=False).first).to_be_visible()
    expect(page.get_by_role("heading", name="Create Storyboard")).to_be_visible()
    expect(page.get_by_text(examples.SCRIPT[:10]).first).to_be_attached()
    screenshot(page, "docs-redoc", full_page=False)

    assert outside == [] and errors == []
    assert _refused_of_our_own(page, live_service.url) == []
