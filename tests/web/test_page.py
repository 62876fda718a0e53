"""The web page at / in headless Chromium, against the real service (preview backends).

Each test starts from a fresh browser context (its own localStorage, so its own generated user id).
Screenshots of the main states go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser

SCRIPT = (
    "At dawn the town bell rang, and Lin opened her wooden window to see mist on the far hills.\n\n"
    "She carried her sketchbook to the river, where a paper boat was drifting by.\n\n"
    "At night fireflies lit the bank, and at last she heard the waves of the sea."
)
ALL_IMAGES_LOADED = "() => [...document.querySelectorAll('#shots img')].every(img => !img.hidden && img.complete && img.naturalWidth > 0)"


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def start_story(page, *, shots: int = 3, aspect: str = "16:9 landscape", title: str = "Paper boat", script: str = SCRIPT) -> None:
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Script", exact=True).fill(script)
    page.get_by_label("Style", exact=True).fill("水彩")
    page.locator("label.segment", has_text=aspect).click()
    expect(page.get_by_label(aspect, exact=True)).to_be_checked()
    page.get_by_label("Number of shots", exact=True).fill(str(shots))
    page.get_by_role("button", name="Create storyboard").click()


def wait_for_keyframes(page, count: int) -> None:
    expect(page.locator('#shots .shot[data-state="done"]')).to_have_count(count)
    page.wait_for_function(ALL_IMAGES_LOADED)


def image_sources(page) -> list[str]:
    return page.locator("#shots img").evaluate_all("images => images.map(img => img.getAttribute('src'))")



def wait_for_playable_video(page):
    """The player once the render finished: visible, with a duration, and playing where the codec allows."""
    player = page.locator("#player")
    expect(player).to_be_visible(timeout=60_000)
    expect(page.locator("#progress-text")).to_have_text(re.compile(r"Video ready \(\d+\.\d s\)\."))
    page.wait_for_function("() => player.readyState >= 1 && player.duration > 0")
    assert page.evaluate("player.duration") > 1
    if page.evaluate("player.canPlayType('video/mp4; codecs=\"avc1.42E01E, mp4a.40.2\"')"):
        page.evaluate("async () => { player.muted = true; await player.play(); }")
        page.wait_for_function("() => player.currentTime > 0.3")
    return player

def test_script_to_storyboard_to_edited_shot_to_played_video(page, open_page, live_service):
    page.goto("/")
    expect(page.get_by_role("heading", name="Your storyboard will appear here")).to_be_visible()
    expect(page.locator("#readiness")).to_have_attribute("data-status", "ok")
    screenshot(page, "01-empty-form")

    # Create: the storyboard appears while the keyframes are still being drawn, then each one fills in.
    live_service.painter.valve.close()
    start_story(page)
    cards = page.locator("#shots .shot")
    expect(cards).to_have_count(3)
    expect(page.locator('#shots .shot[data-state="working"]')).to_have_count(3)
    expect(cards.first.locator(".badge")).to_have_text("Working · keyframe")
    expect(page.locator("#progress-title")).to_have_text("Creating the storyboard")
    expect(page.locator("#progress-text")).to_contain_text("drawing keyframes")
    expect(cards.first.locator(".shot-subject")).not_to_be_empty()
    screenshot(page, "02-storyboard-drawing")
    live_service.painter.valve.open()
    wait_for_keyframes(page, 3)
    expect(cards.first.locator(".badge")).to_have_text("Done")
    expect(page.locator("#progress-text")).to_have_text("Storyboard ready: 3 shots.")
    expect(cards.first.locator('.made-by-row[data-kind="image"]')).to_contain_text("preview")
    expect(page.locator("#workspace-heading")).to_have_text("Paper boat")
    screenshot(page, "03-storyboard-keyframes")

    # Edit shot 2 and redraw only that shot.
    before = image_sources(page)
    second = cards.nth(1)
    second.get_by_role("button", name="Edit shot 2").click()
    editor = page.get_by_role("dialog", name="Edit shot 2")
    expect(editor.get_by_label("Subject", exact=True)).to_be_focused()
    editor.get_by_label("Detail", exact=True).fill("A paper boat on a moonlit river, seen from very close")
    editor.get_by_label("Tone", exact=True).fill("tender")
    screenshot(page, "04-editing-shot", full_page=False)
    editor.get_by_role("button", name="Regenerate this shot").click()
    expect(editor).to_be_hidden()
    expect(second.locator("img")).not_to_have_attribute("src", before[1])
    expect(second).to_have_attribute("data-state", "done")
    page.wait_for_function(ALL_IMAGES_LOADED)
    after = image_sources(page)
    assert after[0] == before[0] and after[2] == before[2] and after[1] != before[1]
    expect(second.locator(".shot-chips")).to_contain_text("tender")
    expect(page.locator("#progress-text")).to_have_text("Shot 2 redrawn.")
    expect(second.get_by_role("button", name="Edit shot 2")).to_be_focused()
    # Escape closes the editor without changes and gives the focus back.
    cards.nth(2).get_by_role("button", name="Edit shot 3").click()
    expect(page.get_by_role("dialog", name="Edit shot 3")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(cards.nth(2).get_by_role("button", name="Edit shot 3")).to_be_focused()

    # Render: the bar moves and each shot shows its step, then the video plays in the page.
    live_service.speech.valve.close()
    page.get_by_role("button", name="Render video").click()
    expect(page.locator("#progress-title")).to_have_text("Rendering the video")
    expect(page.locator('#shots .shot[data-state="working"]')).to_have_count(3)
    expect(cards.first.locator(".badge")).to_have_text("Working · voice")
    expect(page.get_by_role("button", name="Render video")).to_be_disabled()
    screenshot(page, "05-rendering")
    live_service.speech.valve.open()
    player = wait_for_playable_video(page)
    expect(cards.first.locator('.made-by-row[data-kind="audio"]')).to_contain_text("preview")
    expect(cards.first.locator('.made-by-row[data-kind="video"]')).to_be_visible()
    screenshot(page, "06-video")

    mp4 = page.get_by_role("link", name="Download MP4")
    srt = page.get_by_role("link", name="Download subtitles (SRT)")
    for link, media_type in ((mp4, "video/mp4"), (srt, "")):
        response = page.request.get(link.get_attribute("href"))
        assert response.status == 200
        assert response.headers["content-type"].startswith(media_type)
    assert "-->" in page.request.get(srt.get_attribute("href")).text()
    assert mp4.get_attribute("download") == "Paper_boat.mp4"

    # Another browser with the same user id lists the story and reopens it with its keyframes and video.
    user_id = page.locator("#user-id").input_value()
    other = open_page()
    other.goto("/")
    other.locator("#user-id").fill(user_id)
    other.locator("#user-id").press("Enter")
    story = other.locator("#history-list").get_by_role("button", name=re.compile("Paper boat"))
    expect(story).to_contain_text("3 shots")
    expect(story).to_contain_text("Video")
    story.click()
    expect(other.locator("#workspace-heading")).to_have_text("Paper boat")
    expect(other.locator("#workspace-heading")).to_be_focused()
    wait_for_keyframes(other, 3)
    assert image_sources(other) == after
    expect(other.locator("#player")).to_have_attribute("src", player.get_attribute("src"))


def test_language_switch_changes_the_page_and_is_remembered(page):
    page.goto("/")
    expect(page.get_by_role("button", name="Create storyboard")).to_be_visible()
    page.get_by_role("button", name="中文").click()
    expect(page.get_by_role("button", name="生成分镜")).to_be_visible()
    expect(page.get_by_role("heading", name="新建故事")).to_be_visible()
    expect(page.get_by_label("剧本", exact=True)).to_have_attribute("placeholder", re.compile("粘贴或输入剧本"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("button", name="中文")).to_have_attribute("aria-pressed", "true")
    page.reload()
    expect(page.get_by_role("button", name="生成分镜")).to_be_visible()
    assert page.title().startswith("Story2Video：")
    page.get_by_role("button", name="填入示例").click()
    expect(page.get_by_label("剧本", exact=True)).to_have_value(re.compile("纸船"))
    screenshot(page, "07-chinese")
    page.get_by_role("button", name="EN").click()
    expect(page.get_by_role("button", name="Create storyboard")).to_be_visible()


def test_bad_input_is_named_next_to_its_field(page):
    page.goto("/")
    page.get_by_role("button", name="Create storyboard").click()
    script = page.get_by_label("Script", exact=True)
    expect(page.locator("#script-error")).to_have_text("Write or paste a script first.")
    expect(script).to_have_attribute("aria-invalid", "true")
    expect(script).to_be_focused()

    # The service's own check: too many shots. Its message appears under the field and in an alert.
    script.fill(SCRIPT)
    expect(script).not_to_have_attribute("aria-invalid", "true")
    page.get_by_label("Number of shots", exact=True).fill("99")
    page.get_by_role("button", name="Create storyboard").click()
    expect(page.locator("#shot-count-error")).to_have_text("Number of shots: shot_count may be at most 60")
    alert = page.locator("#create-notices").get_by_role("alert")
    expect(alert).to_contain_text("Please check the input")
    expect(alert).to_contain_text("HTTP 400")
    expect(page.get_by_label("Number of shots", exact=True)).to_be_focused()
    screenshot(page, "08-error-field")

    page.locator("#user-id").fill("not a valid id!")
    page.locator("#user-id").press("Enter")
    expect(page.locator("#user-id-error")).to_have_text("Use 1 to 64 letters, digits, hyphens or underscores.")


def test_service_errors_are_explained(page):
    page.goto("/")
    page.get_by_label("Script", exact=True).fill(SCRIPT)
    create = page.get_by_role("button", name="Create storyboard")
    alert = page.locator("#create-notices").get_by_role("alert")

    page.route(
        "**/api/v1/storyboard/create",
        lambda route: route.fulfill(status=429, headers={"Retry-After": "7"}, json={"error": {"code": "queue_full", "message": "64 operations are already waiting"}}),
    )
    create.click()
    expect(alert).to_contain_text("The service is busy")
    expect(alert).to_contain_text(re.compile(r"You can try again in [67] s\."))
    expect(alert.get_by_role("button", name="Try again")).to_be_disabled()
    screenshot(page, "09-error-queue-full")

    page.unroute("**/api/v1/storyboard/create")
    page.route(
        "**/api/v1/storyboard/create",
        lambda route: route.fulfill(
            status=503,
            json={"error": {"code": "backend_unavailable", "message": "ollama at http://gpu:11434 refused the connection", "stage": "storyboard", "backend": "ollama"}},
        ),
    )
    create.click()
    expect(alert).to_contain_text("A backend is unreachable")
    expect(alert).to_contain_text("ollama at http://gpu:11434 refused the connection")
    expect(alert).to_contain_text("Stage: writing the shots")

    page.unroute("**/api/v1/storyboard/create")
    page.route("**/api/v1/storyboard/create", lambda route: route.abort())
    create.click()
    expect(alert).to_contain_text("Cannot reach the service")


def test_a_failing_shot_shows_its_reason(page, live_service):
    page.goto("/")
    start_story(page, shots=2, title="Failing shot")
    wait_for_keyframes(page, 2)
    live_service.painter.failure = "the image backend at http://gpu:8188 is not answering"
    card = page.locator("#shots .shot").first
    card.get_by_role("button", name="Edit shot 1").click()
    page.get_by_role("dialog", name="Edit shot 1").get_by_role("button", name="Regenerate this shot").click()
    expect(card).to_have_attribute("data-state", "failed")
    expect(card.locator(".badge")).to_have_text("Failed")
    expect(card.locator(".shot-error")).to_contain_text("the image backend at http://gpu:8188 is not answering")
    alert = page.locator("#workspace-notices").get_by_role("alert")
    expect(alert).to_contain_text("A backend is unreachable")
    expect(alert).to_contain_text("Stage: drawing keyframes, shot 1")
    screenshot(page, "10-error-shot-failed")


def test_cancel_stops_a_render(page, live_service):
    page.goto("/")
    # A script of its own: narration cached by an earlier test would let a shot finish before the cancel.
    script = "A lighthouse keeper climbs the stairs at dusk.\n\nHe lights the lamp and watches the ships pass."
    start_story(page, shots=2, title="Cancelled render", script=script)
    wait_for_keyframes(page, 2)
    live_service.speech.valve.close()
    page.get_by_role("button", name="Render video").click()
    expect(page.locator('#shots .shot[data-state="working"]')).to_have_count(2)
    page.locator("#progress").get_by_role("button", name="Cancel").click()
    expect(page.locator("#progress-text")).to_have_text(re.compile("^Cancelled"))
    expect(page.locator('#shots .shot[data-state="cancelled"]')).to_have_count(2)
    expect(page.get_by_role("button", name="Render video")).to_be_enabled()
    expect(page.locator("#video-body")).to_be_hidden()


def test_progress_falls_back_to_polling_when_the_stream_fails(page, live_service):
    page.route(re.compile(r"/events(\?|$)"), lambda route: route.abort())  # the stream's URL names the user: …/events?user_id=
    page.goto("/")
    live_service.painter.valve.close()
    start_story(page, shots=2, title="Polling")
    expect(page.locator("#workspace-notices").get_by_role("status")).to_contain_text("Live updates were interrupted")
    expect(page.locator('#shots .shot[data-state="working"]')).to_have_count(2)
    live_service.painter.valve.open()
    wait_for_keyframes(page, 2)
    expect(page.locator("#progress-text")).to_have_text("Storyboard ready: 2 shots.")


def test_reload_resumes_a_running_operation(page, live_service):
    page.goto("/")
    live_service.painter.valve.close()
    start_story(page, shots=2, title="Resume")
    expect(page.locator('#shots .shot[data-state="working"]')).to_have_count(2)
    page.reload()
    expect(page.locator("#workspace-heading")).to_have_text("Resume")
    expect(page.locator('#shots .shot[data-state="working"]')).to_have_count(2)
    live_service.painter.valve.open()
    wait_for_keyframes(page, 2)


def test_controls_are_labelled_and_reachable_by_keyboard(page):
    page.goto("/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the storyboard")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, textarea, select, button, a[href]')]
            .filter(el => !el.closest('[hidden]'))
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
            .map(el => el.outerHTML)"""
    )
    assert unlabelled == []
    assert page.locator("div[onclick], span[onclick], [role=button]:not(button)").count() == 0
    # The create button is reachable with Tab from the script field, past the options, in reading order.
    page.get_by_label("Script", exact=True).focus()
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "create-button":
            break
    expect(page.get_by_role("button", name="Create storyboard")).to_be_focused()


def test_phone_width_layout(open_page, live_service):
    page = open_page(width=390, height=844)
    page.goto("/")
    screenshot(page, "11-phone-form", full_page=False)
    start_story(page, shots=3, aspect="9:16 portrait", title="Phone")
    wait_for_keyframes(page, 3)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator("#story").scroll_into_view_if_needed()
    screenshot(page, "12-phone-storyboard", full_page=False)
    page.locator("#shots .shot").first.get_by_role("button", name="Edit shot 1").click()
    editor = page.get_by_role("dialog", name="Edit shot 1")
    box = editor.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    screenshot(page, "13-phone-editor", full_page=False)
    page.keyboard.press("Escape")
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_a_service_with_api_keys_works_once_the_key_is_entered(chromium_browser, tmp_path):
    from app_api import build_providers
    from story2video.app import create_app
    from tests.conftest import small_settings
    from tests.web.conftest import serving

    key = "browser-test-key-0123456789"
    settings = small_settings(tmp_path, api_keys=f"{key}:browser-user")
    with serving(create_app(settings, build_providers(settings))) as url:
        context = chromium_browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", base_url=url)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto("/")
        expect(page.locator("#readiness")).not_to_have_attribute("data-status", "ok")  # /ready needs the key
        page.get_by_label("User ID", exact=True).fill("browser-user")
        page.get_by_label("User ID", exact=True).press("Enter")
        page.get_by_label("API key", exact=True).fill(key)
        page.get_by_label("API key", exact=True).press("Tab")
        expect(page.locator("#readiness")).to_have_attribute("data-status", "ok")
        start_story(page)
        wait_for_keyframes(page, 3)  # images load through signed links, without the key
        assert all("sig=" in src for src in image_sources(page))
        context.close()
        assert not errors, errors
