"""The person's own files on the page: a picture as a shot's keyframe ("Use my picture" in the shot editor)
and a music file for the render ("Music file" in the video options), against the real service."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from tests.uploads.media import picture, tone_wav
from tests.web.conftest import screenshot
from tests.web.test_page import ALL_IMAGES_LOADED, expect, image_sources, start_story, wait_for_keyframes, wait_for_playable_video

pytestmark = pytest.mark.browser

RED = (220, 20, 20)
RED_PNG = {"name": "red.png", "mimeType": "image/png", "buffer": picture("PNG", (400, 300), RED)}
NOT_A_PICTURE = {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"These are words about a picture, not a picture.\n" * 4}


def story_from_api(page) -> dict:
    """The story the page shows, as GET /api/v1/stories/{id} answers it."""
    user_id = page.locator("#user-id").input_value()
    story_id = page.evaluate("localStorage.getItem('s2v.story')")
    response = page.request.get(f"/api/v1/stories/{story_id}", params={"user_id": user_id})
    assert response.status == 200, response.text()
    return response.json()


def decoded(page, url: str) -> Image.Image:
    response = page.request.get(url)
    assert response.status == 200
    return Image.open(io.BytesIO(response.body())).convert("RGB")


def requests_to(page, path: str) -> list:
    sent: list = []
    page.on("request", lambda request: sent.append(request) if request.method == "POST" and path in request.url else None)
    return sent


def open_editor(page, n: int):
    page.locator("#shots .shot").nth(n - 1).get_by_role("button", name=f"Edit shot {n}").click()
    editor = page.get_by_role("dialog", name=f"Edit shot {n}")
    expect(editor).to_be_visible()
    return editor


def test_my_picture_becomes_the_keyframe_of_a_shot(page):
    page.goto("/")
    start_story(page, shots=2, title="My picture")
    wait_for_keyframes(page, 2)
    before = image_sources(page)
    first = page.locator("#shots .shot").first
    expect(first.locator('.made-by-row[data-kind="image"]')).to_contain_text("preview")

    editor = open_editor(page, 1)
    chooser = editor.get_by_label("Use my picture", exact=True)
    expect(chooser).to_have_attribute("type", "file")
    expect(chooser).to_have_attribute("accept", "image/png,image/jpeg,image/webp")
    screenshot(page, "20-editor-my-picture", full_page=False)
    with page.expect_response(re.compile(r"/api/v1/uploads\?")) as uploaded, page.expect_request("**/api/v1/shot/regenerate") as regenerate:
        chooser.set_input_files(files=[RED_PNG])
    upload = uploaded.value.json()
    assert uploaded.value.status == 201
    assert (upload["kind"], upload["format"], upload["filename"]) == ("image", "png", "red.png")
    body = regenerate.value.post_data_json
    assert body["image_upload_id"] == upload["upload_id"] and body["shot_id"] == first.get_attribute("data-shot-id")

    # The same path as Regenerate: the editor closes, the card works, then shows the new keyframe.
    expect(editor).to_be_hidden()
    expect(first.locator("img")).not_to_have_attribute("src", before[0])
    expect(first).to_have_attribute("data-state", "done")
    page.wait_for_function(ALL_IMAGES_LOADED)
    expect(page.locator("#progress-text")).to_have_text("Shot 1 redrawn.")
    expect(first.locator('.made-by-row[data-kind="image"]')).to_contain_text("your picture")
    after = image_sources(page)
    assert after[1] == before[1] and after[0] != before[0]

    shot = story_from_api(page)["shots"][0]
    assert shot["artifacts"]["image"]["backend"] == "upload"
    assert shot["image_url"] == after[0]
    # The keyframe is the red picture, cover-cropped to the story's keyframe size.
    keyframe, other = decoded(page, after[0]), decoded(page, after[1])
    assert keyframe.size == other.size
    r, g, b = keyframe.getpixel((keyframe.width // 2, keyframe.height // 2))
    assert r > 180 and g < 70 and b < 70, (r, g, b)
    screenshot(page, "21-shot-with-my-picture")


def test_a_file_that_is_not_a_picture_is_refused_next_to_the_control(page):
    page.goto("/")
    start_story(page, shots=2, title="Not a picture")
    wait_for_keyframes(page, 2)
    before = image_sources(page)
    regenerations = requests_to(page, "/api/v1/shot/regenerate")

    editor = open_editor(page, 1)
    chooser = editor.get_by_label("Use my picture", exact=True)
    with page.expect_response(re.compile(r"/api/v1/uploads\?")) as answer:
        chooser.set_input_files(files=[NOT_A_PICTURE])
    assert answer.value.status == 415
    message = answer.value.json()["error"]["message"]
    alert = editor.locator(".field-picture").get_by_role("alert")
    expect(alert).to_contain_text("This file type is not supported")
    expect(alert).to_contain_text(message)
    expect(alert).to_contain_text("HTTP 415")
    expect(chooser).to_have_attribute("aria-invalid", "true")
    expect(chooser).to_be_focused()
    described = chooser.get_attribute("aria-describedby").split()
    assert alert.evaluate("(el) => el.closest('.notices').id") in described
    expect(editor).to_be_visible()  # nothing was started, so the editor stays open
    expect(editor.locator(".editor-form .notices")).to_be_empty()
    screenshot(page, "22-editor-picture-refused", full_page=False)

    # The same refusal in Chinese: the intro is translated, the service's message is kept.
    page.keyboard.press("Escape")
    page.get_by_role("button", name="中文").click()
    editor = page.locator("#shots .shot").first.get_by_role("button", name="编辑镜头 1")
    editor.click()
    editor = page.get_by_role("dialog", name="编辑镜头 1")
    with page.expect_response(re.compile(r"/api/v1/uploads\?")):
        editor.get_by_label("使用我的图片", exact=True).set_input_files(files=[NOT_A_PICTURE])
    alert = editor.locator(".field-picture").get_by_role("alert")
    expect(alert).to_contain_text("不支持此文件类型")
    expect(alert).to_contain_text(message)
    page.keyboard.press("Escape")

    assert regenerations == []
    assert image_sources(page) == before
    assert story_from_api(page)["shots"][0]["artifacts"]["image"]["backend"] != "upload"


def test_a_render_uses_my_music_file(page):
    page.goto("/")
    script = "A girl plays the violin on a rooftop at dusk.\n\nPigeons circle while the city lights come on."
    start_story(page, shots=2, title="My music", script=script)
    wait_for_keyframes(page, 2)
    music = page.get_by_label("Background music", exact=True)
    chooser = page.get_by_label("Music file", exact=True)
    chosen = page.locator("#music-file-chosen")
    expect(chooser).to_have_attribute("accept", "audio/*")
    expect(music).not_to_be_checked()
    expect(chosen).to_be_hidden()

    # Chosen: uploaded at once, named, and the music is switched on. Remove forgets it.
    wav = {"name": "violin.wav", "mimeType": "audio/wav", "buffer": tone_wav(2.0, 330.0)}
    with page.expect_response(re.compile(r"/api/v1/uploads\?")) as uploaded:
        chooser.set_input_files(files=[wav])
    upload = uploaded.value.json()
    assert uploaded.value.status == 201 and upload["kind"] == "audio"
    expect(chosen).to_be_visible()
    expect(chosen.locator("#music-file-name")).to_have_text("violin.wav")
    expect(chosen).to_contain_text("Uploaded")
    expect(music).to_be_checked()
    remove = chosen.get_by_role("button", name="Remove the music file violin.wav")
    remove.click()
    expect(chosen).to_be_hidden()
    expect(chooser).to_be_focused()
    assert chooser.evaluate("(input) => input.files.length") == 0

    with page.expect_response(re.compile(r"/api/v1/uploads\?")) as uploaded:
        chooser.set_input_files(files=[wav])
    upload = uploaded.value.json()
    expect(chosen).to_contain_text("Uploaded")
    screenshot(page, "23-music-file-chosen")
    uploads = requests_to(page, "/api/v1/uploads")
    with page.expect_request("**/api/v1/video/render") as sent:
        page.get_by_role("button", name="Render video").click()
    body = sent.value.post_data_json
    assert body["music_upload_id"] == upload["upload_id"] and body["music"] is True
    assert uploads == []  # the file chosen before is used, not sent again

    player = wait_for_playable_video(page)
    response = page.request.get(player.get_attribute("src"))
    assert response.status == 200 and response.headers["content-type"].startswith("video/mp4")
    screenshot(page, "24-video-with-my-music")


def test_a_refused_music_file_stops_the_render(page):
    page.goto("/")
    start_story(page, shots=2, title="Bad music")
    wait_for_keyframes(page, 2)
    renders = requests_to(page, "/api/v1/video/render")
    chooser = page.get_by_label("Music file", exact=True)
    with page.expect_response(re.compile(r"/api/v1/uploads\?")) as answer:
        chooser.set_input_files(files=[{"name": "song.txt", "mimeType": "audio/mpeg", "buffer": b"la la la " * 40}])
    assert answer.value.status == 415
    message = answer.value.json()["error"]["message"]
    near = page.locator(".music-file").get_by_role("alert")
    expect(near).to_contain_text("This file type is not supported")
    expect(near).to_contain_text(message)
    expect(chooser).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#music-file-chosen")).to_contain_text("Cannot be used")

    page.get_by_role("button", name="Render video").click()
    expect(page.locator("#video-notices").get_by_role("alert")).to_contain_text("The video was not rendered")
    expect(chooser).to_be_focused()
    expect(page.get_by_role("button", name="Render video")).to_be_enabled()
    expect(page.locator("#progress-title")).to_have_text("Creating the storyboard")  # no render began
    assert renders == []
    screenshot(page, "25-music-file-refused")

    # Without the file the render goes ahead, with the built-in music.
    page.locator("#music-file-chosen").get_by_role("button", name=re.compile("^Remove")).click()
    expect(near).to_have_count(0)
    with page.expect_request("**/api/v1/video/render") as sent:
        page.get_by_role("button", name="Render video").click()
    assert "music_upload_id" not in sent.value.post_data_json
    expect(page.locator("#player")).to_be_visible(timeout=60_000)


def test_upload_controls_at_phone_width(open_page):
    page = open_page(width=390, height=844)
    page.goto("/")
    chooser = page.get_by_label("Music file", exact=True)
    chooser.set_input_files(files=[{"name": "a-rather-long-name-for-a-music-file-from-my-phone.wav", "mimeType": "audio/wav", "buffer": tone_wav(1.0)}])
    expect(page.locator("#music-file-chosen")).to_contain_text("Uploaded")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # Reached with Tab from the music switch, and the focus shows.
    page.get_by_label("Background music", exact=True).focus()
    page.keyboard.press("Tab")
    expect(chooser).to_be_focused()
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    start_story(page, shots=2, aspect="9:16 portrait", title="Phone picture")
    wait_for_keyframes(page, 2)
    editor = open_editor(page, 1)
    picture_chooser = editor.get_by_label("Use my picture", exact=True)
    picture_chooser.scroll_into_view_if_needed()
    for box in (editor.bounding_box(), picture_chooser.bounding_box()):
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    screenshot(page, "26-phone-editor-picture", full_page=False)
