"""Signing in on the page (ACCOUNTS_ENABLED): the page works as the account's user and lists the stories
that user made elsewhere (with curl, say), whose files it downloads as one zip with the account's token;
a reload stays signed in through the refresh cookie."""

from __future__ import annotations

import zipfile

import httpx
import pytest

from app_api import build_providers
from story2video.app import create_app
from tests.conftest import create_body, small_settings
from tests.web.conftest import TIMEOUT_MS, screenshot, serving

pytestmark = pytest.mark.browser

SECRET = "a-secret-for-signing-access-tokens-0123456789"
PASSWORD = "correct horse battery"


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture(scope="module")
def accounts_service(tmp_path_factory):
    settings = small_settings(tmp_path_factory.mktemp("accounts"), accounts_enabled=True, account_token_secret=SECRET)
    with serving(create_app(settings, build_providers(settings))) as url:
        yield url


def test_sign_in_see_the_stories_made_with_curl_and_download_one(chromium_browser, accounts_service, tmp_path):
    url = accounts_service
    with httpx.Client(base_url=url, timeout=60) as http:  # what a person's script would do
        account = http.post("/api/v1/auth/register", json={"username": "linxia", "password": PASSWORD}).json()
        token = http.post("/api/v1/auth/login", json={"username": "linxia", "password": PASSWORD}).json()["access_token"]
        made = http.post(
            "/api/v1/storyboard/create",
            json=create_body(user_id=account["user_id"], display_name="Made with curl", shot_count=2),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert made.status_code == 200, made.text

    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", base_url=url)
    context.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto("/")
        expect(page.locator("#account")).to_be_visible()
        expect(page.locator("#account-error")).to_have_text("Sign in to see and make your stories.")
        expect(page.locator("#history-list")).not_to_contain_text("Made with curl")

        page.get_by_label("Username").fill("linxia")
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#account-error")).to_contain_text("the username or password is wrong")

        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#account-name")).to_have_text("Signed in as linxia")
        expect(page.locator("#user-id")).to_have_value(account["user_id"])
        expect(page.locator("#user-id")).to_have_attribute("readonly", "")
        expect(page.locator("#history-list")).to_contain_text("Made with curl")
        screenshot(page, "signed-in-history")

        page.locator("#history-list").get_by_text("Made with curl").click()  # open it, then take all its files
        with page.expect_download() as waiting:
            page.get_by_role("button", name="Download all files (zip)").click()
        saved = tmp_path / "story.zip"
        waiting.value.save_as(saved)
        assert waiting.value.suggested_filename == "story-001.zip"
        with zipfile.ZipFile(saved) as archive:
            names = archive.namelist()
            assert "storyboard.json" in names and archive.testzip() is None
            assert sum(name.endswith("/keyframe.png") for name in names) == 2, names
        page.locator("#video").scroll_into_view_if_needed()
        screenshot(page, "story-download-all")

        page.reload()  # the access token was in memory only: the HttpOnly cookie signs in again
        expect(page.locator("#account-name")).to_have_text("Signed in as linxia")
        expect(page.locator("#history-list")).to_contain_text("Made with curl")
        assert "refresh_token" not in page.evaluate("document.cookie")  # HttpOnly: out of the page's reach

        page.get_by_role("button", name="Sign out").click()
        expect(page.locator("#sign-in")).to_be_visible()
        page.reload()
        expect(page.locator("#account-error")).to_have_text("Sign in to see and make your stories.")
    finally:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"
