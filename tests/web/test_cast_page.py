"""The story's cast on the page: portraits (or initials), looks and voices, the edit form and its errors, and
what the shot cards say about their characters, lines and consistency, against the real service."""

from __future__ import annotations

import io
import json
import re

import pytest
from PIL import Image, ImageDraw

from tests.web.conftest import screenshot
from tests.web.test_page import ALL_IMAGES_LOADED, expect, image_sources, start_story, wait_for_keyframes, wait_for_playable_video

pytestmark = pytest.mark.browser

TWO_PEOPLE = (
    'Tom opened the door of the boathouse and looked out. "Is anybody there?" Tom asked. '
    'Far away, Anna stood alone at the window of the lighthouse. "I am the keeper\'s daughter," she said.'
)
NOBODY = "The rain fell all night over the quiet harbour town.\n\nThe storm moved out to sea before dawn."
NEW_LOOK = "a tall old fisherman with a white beard, a yellow oilskin coat and rubber boots"


def _face_png() -> bytes:
    """A simple drawn face, so the portrait in the screenshots reads as one."""
    image = Image.new("RGB", (240, 240), (70, 130, 190))
    draw = ImageDraw.Draw(image)
    draw.rectangle((50, 190, 190, 240), fill=(200, 40, 40))  # red coat
    draw.ellipse((70, 50, 170, 170), fill=(240, 200, 160))  # face
    draw.pieslice((66, 40, 174, 120), 180, 360, fill=(150, 150, 150))  # grey hair
    draw.ellipse((95, 100, 107, 112), fill=(40, 40, 40))
    draw.ellipse((133, 100, 145, 112), fill=(40, 40, 40))
    draw.arc((100, 120, 140, 150), 20, 160, fill=(120, 40, 40), width=4)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


PORTRAIT_PNG = {"name": "tom.png", "mimeType": "image/png", "buffer": _face_png()}


def story_with_cast(page, title: str) -> None:
    """Tom speaks in shot 1, Anna is in shots 2 and 3 (the preview writer splits the script so)."""
    start_story(page, shots=3, title=title, script=TWO_PEOPLE)
    wait_for_keyframes(page, 3)
    expect(page.locator("#cast .cast-card")).to_have_count(2)


def cast_card(page, name: str):
    return page.locator("#cast .cast-card").filter(has=page.get_by_role("heading", name=name, exact=True))


def open_cast_editor(page, name: str):
    cast_card(page, name).get_by_role("button", name=f"Edit {name}").click()
    editor = page.get_by_role("dialog", name=f"Edit {name}")
    expect(editor).to_be_visible()
    return editor


def cast_patches(page) -> list:
    sent: list = []
    page.on("request", lambda request: sent.append(request) if request.method == "PATCH" and "/cast/" in request.url else None)
    return sent


def test_the_cast_appears_with_its_looks_voices_and_lines(page):
    page.goto("/")
    story_with_cast(page, "Boathouse")
    cast = page.locator("#cast")
    expect(cast.get_by_role("heading", name="Cast")).to_be_visible()
    # The cast section comes before the shots.
    assert page.evaluate("document.querySelector('#cast').compareDocumentPosition(document.querySelector('#shots')) & Node.DOCUMENT_POSITION_FOLLOWING")

    tom, anna = cast_card(page, "Tom"), cast_card(page, "Anna")
    expect(tom.locator(".cast-appearance")).to_contain_text("red wool coat")
    expect(tom.locator(".cast-fact-hints dd")).to_have_text("male · adult · warm, low")
    expect(anna.locator(".cast-fact-hints dd")).to_have_text("female · adult · clear, warm")
    expect(tom.locator(".cast-fact-voice dd")).to_have_text("Automatic")
    expect(tom.locator(".cast-fact-shots dd")).to_have_text("1")
    expect(anna.locator(".cast-fact-shots dd")).to_have_text("2, 3")
    # The portrait was drawn before the first keyframe of the character: the picture, not the initials.
    expect(tom.locator(".portrait-image")).to_be_visible()
    expect(tom.locator(".portrait-initials")).to_be_hidden()
    expect(tom.locator(".cast-source")).to_have_text("Drawn portrait")

    shots = page.locator("#shots .shot")
    first, second, third = shots.nth(0), shots.nth(1), shots.nth(2)
    expect(first.get_by_role("list", name="Characters in shot 1").get_by_role("listitem")).to_have_text(["Tom"])
    expect(third.get_by_role("list", name="Characters in shot 3").get_by_role("listitem")).to_have_text(["Anna"])
    lines = first.get_by_role("list", name="Lines of shot 1").get_by_role("listitem")
    expect(lines).to_have_text(["Tom opened the door of the boathouse and looked out.", "Tom: Is anybody there?", "Tom asked."])
    expect(lines.nth(1).locator(".line-speaker")).to_have_text("Tom:")
    expect(lines.nth(0).locator(".line-speaker")).to_have_count(0)  # the narrator's lines are plain
    expect(first.locator(".shot-narration")).to_be_hidden()
    # Shot 2 is all narration: the narration as before, no line list.
    expect(second.locator(".shot-lines")).to_be_hidden()
    expect(second.locator(".shot-narration")).to_contain_text("Anna stood alone")
    # Every shot shows a character, so the preview stand-in scored each; the threshold (0) flags none.
    expect(page.locator("#shots .shot-consistency:visible")).to_have_count(3)
    expect(page.locator("#shots .consistency-flag")).to_have_count(0)
    page.locator("#cast").scroll_into_view_if_needed()
    screenshot(page, "30-cast-desktop-en")


def test_editing_an_appearance_sends_the_patch_and_redraws_only_its_shots(page, live_service):
    page.goto("/")
    story_with_cast(page, "New look")
    patches = cast_patches(page)
    before = image_sources(page)

    editor = open_cast_editor(page, "Tom")
    expect(editor.get_by_label("Name", exact=True)).to_be_focused()
    expect(editor.get_by_label("Name", exact=True)).to_have_value("Tom")
    expect(editor.get_by_label("Gender", exact=True)).to_have_value("male")
    expect(editor.get_by_label("Age", exact=True)).to_have_value("adult")
    expect(editor.get_by_label("Voice", exact=True)).to_have_attribute("placeholder", "Automatic")
    expect(editor.get_by_label("Draw a new portrait")).to_be_visible()  # the drawn portrait may be drawn again
    editor.get_by_label("Appearance", exact=True).fill(NEW_LOOK)
    screenshot(page, "31-cast-editor-en", full_page=False)
    with page.expect_response(re.compile(r"/api/v1/stories/[^/]+/cast/tom$")) as answered:
        editor.get_by_role("button", name="Save").click()
    assert answered.value.status == 200
    assert [request.method for request in patches] == ["PATCH"]
    user_id = page.locator("#user-id").input_value()
    assert patches[0].post_data_json == {"user_id": user_id, "appearance": NEW_LOOK}  # only what changed

    expect(editor).to_be_hidden()
    tom = cast_card(page, "Tom")
    expect(tom.locator(".cast-appearance")).to_have_text(NEW_LOOK)
    expect(tom.get_by_role("button", name="Edit Tom")).to_be_focused()
    expect(page.locator("#cast-status")).to_have_text("Tom saved. Shot 1 will be redrawn at the next render.")
    # Tom's shot lost its keyframe and says when it comes back; Anna's shots keep theirs.
    first = page.locator("#shots .shot").first
    expect(first.locator(".shot-image")).to_be_hidden()
    expect(first.locator(".shot-placeholder")).to_have_text("Will be redrawn at the next render")
    expect(first.locator(".shot-error")).to_be_hidden()
    assert image_sources(page)[1:] == before[1:]
    screenshot(page, "32-cast-saved-en")

    # A voice change is only a voice change: the PATCH carries the voice alone and no keyframe is dropped.
    editor = open_cast_editor(page, "Anna")
    editor.get_by_label("Voice", exact=True).fill("en-us+f3")
    editor.get_by_role("button", name="Save").click()
    expect(editor).to_be_hidden()
    assert patches[1].post_data_json == {"user_id": user_id, "voice": "en-us+f3"}
    expect(cast_card(page, "Anna").locator(".cast-fact-voice dd")).to_have_text("en-us+f3")
    expect(page.locator("#cast-status")).to_have_text("Anna saved. The character's lines will be spoken again at the next render.")
    assert image_sources(page)[1:] == before[1:]

    # While the render runs the cast cannot be saved (it would mix old and new looks); then shot 1 has a keyframe
    # again. (That the new one shows the new look is the keyframe backends' part, tested in tests/api/test_cast.py.)
    live_service.speech.valve.close()
    page.get_by_role("button", name="Render video").click()
    expect(page.locator("#progress-title")).to_have_text("Rendering the video")
    expect(page.locator("#cast-status")).to_be_empty()
    editor = open_cast_editor(page, "Tom")
    expect(editor.get_by_role("button", name="Save")).to_be_disabled()
    expect(editor.locator(".cast-busy")).to_have_text("You can save once the running operation has finished.")
    page.keyboard.press("Escape")
    live_service.speech.valve.open()
    wait_for_playable_video(page)
    page.wait_for_function(ALL_IMAGES_LOADED)
    after = image_sources(page)
    assert after[0] and after[1:] == before[1:]
    expect(page.locator("#shots .shot").first.locator(".shot-placeholder")).to_be_hidden()


def test_an_error_from_the_service_is_shown_at_its_field(page):
    page.goto("/")
    story_with_cast(page, "Errors")
    patches = cast_patches(page)
    editor = open_cast_editor(page, "Anna")

    # An empty name never leaves the page.
    editor.get_by_label("Name", exact=True).fill("  ")
    editor.get_by_role("button", name="Save").click()
    expect(editor.locator("#cast-edit-anna-name-error")).to_have_text("This field may not be empty.")
    assert patches == []

    # Too long a look: the service refuses it and names the field; the message stands under that field.
    editor.get_by_label("Name", exact=True).fill("Anna")
    appearance = editor.get_by_label("Appearance", exact=True)
    appearance.fill("a woman with a long grey braid " * 21)
    editor.get_by_role("button", name="Save").click()
    expect(editor.locator("#cast-edit-anna-appearance-error")).to_have_text("Appearance: String should have at most 600 characters")
    expect(appearance).to_have_attribute("aria-invalid", "true")
    expect(appearance).to_be_focused()
    alert = editor.get_by_role("alert")
    expect(alert).to_contain_text("Please check the input")
    expect(alert).to_contain_text("HTTP 400")
    assert len(patches) == 1
    expect(editor.get_by_role("button", name="Save")).to_be_enabled()
    screenshot(page, "33-cast-error-en", full_page=False)
    # Typing again clears the mark; the card still shows the saved look.
    appearance.fill("a woman with a long grey braid")
    expect(appearance).not_to_have_attribute("aria-invalid", "true")
    page.keyboard.press("Escape")
    expect(editor).to_be_hidden()
    expect(cast_card(page, "Anna").locator(".cast-appearance")).to_contain_text("grey hoodie")


def test_a_reference_picture_is_uploaded_and_becomes_the_portrait(page):
    page.goto("/")
    story_with_cast(page, "Portrait")
    patches = cast_patches(page)
    editor = open_cast_editor(page, "Tom")
    with page.expect_response(re.compile(r"/api/v1/uploads\?")) as uploaded:
        editor.get_by_label("Upload a reference picture", exact=True).set_input_files(files=[PORTRAIT_PNG])
    upload = uploaded.value.json()
    expect(editor.locator(".upload-status")).to_have_text("tom.png uploaded. Save to use it.")
    expect(editor.locator(".portrait-image")).to_be_visible()  # the chosen picture, before it is saved
    editor.get_by_role("button", name="Save").click()
    expect(editor).to_be_hidden()
    assert patches[0].post_data_json["reference_upload_id"] == upload["upload_id"]

    tom = cast_card(page, "Tom")
    portrait = tom.get_by_role("img", name="Portrait of Tom")
    expect(portrait).to_be_visible()
    page.wait_for_function("() => [...document.querySelectorAll('#cast .portrait-image')].some(img => !img.hidden && img.naturalWidth > 0)")
    expect(tom.locator(".cast-source")).to_have_text("Your picture")
    expect(tom.locator(".portrait-initials")).to_be_hidden()
    page.locator("#cast").scroll_into_view_if_needed()
    screenshot(page, "34-cast-portrait-en")

    # With a portrait, "Draw a new portrait" is offered; it drops the picture, and the initials come back.
    editor = open_cast_editor(page, "Tom")
    redraw = editor.get_by_label("Draw a new portrait")
    expect(redraw).to_be_visible()
    editor.get_by_text("Draw a new portrait", exact=True).click()  # the switch drawn over the box is what people click
    expect(redraw).to_be_checked()
    editor.get_by_role("button", name="Save").click()
    expect(editor).to_be_hidden()
    assert patches[1].post_data_json == {"user_id": page.locator("#user-id").input_value(), "redraw_reference": True}
    expect(tom.locator(".portrait-initials")).to_be_visible()
    expect(tom.locator(".cast-source")).to_have_text("Portrait drawn at the next render")


def test_a_file_that_is_not_a_picture_is_refused_at_the_picture_control(page):
    page.goto("/")
    story_with_cast(page, "Not a portrait")
    patches = cast_patches(page)
    editor = open_cast_editor(page, "Anna")
    chooser = editor.get_by_label("Upload a reference picture", exact=True)
    chooser.set_input_files(files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a picture\n" * 8}])
    expect(chooser).to_have_attribute("aria-invalid", "true")
    expect(editor.locator(".upload-notices").get_by_role("alert")).to_be_visible()
    expect(editor.get_by_role("button", name="Save")).to_be_enabled()
    editor.get_by_role("button", name="Save").click()  # nothing changed: nothing is sent
    expect(editor).to_be_hidden()
    assert patches == []


def test_consistency_and_its_flag_are_on_the_shot_cards(page):
    """The preview backends score nothing; the story as the API gives it, with scores as a scoring backend sets them."""

    def with_scores(route):
        response = route.fetch()
        story = response.json()
        for shot, (score, takes, flagged) in zip(story["shots"], [(0.91, 1, False), (0.48, 3, True), (None, 0, False)]):
            shot.update(consistency=score, takes=takes, consistency_flagged=flagged)
        route.fulfill(response=response, body=json.dumps(story))

    page.goto("/")
    story_with_cast(page, "Scores")
    page.route(re.compile(r"/api/v1/stories/[^/?]+\?"), with_scores)
    page.reload()
    shots = page.locator("#shots .shot")
    expect(shots.nth(0).locator(".shot-consistency")).to_have_text("Consistency 0.91 · 1 take")
    expect(shots.nth(0).locator(".consistency-flag")).to_have_count(0)
    flagged = shots.nth(1).locator(".shot-consistency")
    expect(flagged).to_contain_text("Consistency 0.48 · 3 takes")
    expect(flagged.locator(".consistency-flag")).to_be_visible()
    expect(flagged.locator(".consistency-flag")).to_have_text("⚠ Below the threshold: a character may look different here")
    expect(shots.nth(2).locator(".shot-consistency")).to_be_hidden()  # not scored: nothing shown
    shots.nth(1).scroll_into_view_if_needed()
    screenshot(page, "35-shot-consistency-flagged", full_page=False)


def test_a_story_without_characters_has_no_cast_section(page):
    page.goto("/")
    start_story(page, shots=2, title="Nobody", script=NOBODY)
    wait_for_keyframes(page, 2)
    expect(page.locator("#cast")).to_be_hidden()
    expect(page.locator("#shots .shot-cast:visible")).to_have_count(0)
    expect(page.locator("#shots .shot-narration").first).to_be_visible()


def test_the_cast_in_chinese_and_at_phone_width(open_page):
    page = open_page(width=390, height=844)
    page.goto("/")
    page.get_by_role("button", name="中文").click()
    page.get_by_label("剧本", exact=True).fill(
        "张明推开门，看见小红站在窗边。“你怎么来了？”张明问道。"
        "小红转过身，笑着说：“我来给你送伞。”她把伞递给他。“谢谢你，”他说，“外面雨真大。”"
    )
    page.get_by_label("镜头数", exact=True).fill("3")
    page.get_by_role("button", name="生成分镜").click()
    wait_for_keyframes(page, 3)
    cast = page.locator("#cast")
    expect(cast.get_by_role("heading", name="角色")).to_be_visible()
    zhang = cast_card(page, "张明")
    expect(zhang.locator(".portrait-image")).to_be_visible()
    expect(zhang.locator(".cast-fact-hints dd")).to_have_text("男 · 成年 · 温暖，低沉")
    expect(zhang.locator(".cast-fact-voice dd")).to_have_text("自动")
    expect(zhang.locator(".cast-fact-shots dt")).to_have_text("出现镜头")
    expect(page.locator("#shots .shot").first.locator(".line-speaker")).to_have_text("张明：")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    cast.scroll_into_view_if_needed()
    screenshot(page, "36-cast-phone-zh", full_page=False)

    # The editor fits the phone screen and is worked with the keyboard alone.
    zhang.get_by_role("button", name="编辑 张明").focus()
    page.keyboard.press("Enter")
    editor = page.get_by_role("dialog", name="编辑 张明")
    expect(editor.get_by_label("名字", exact=True)).to_be_focused()
    box = editor.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    page.keyboard.press("Tab")
    expect(editor.get_by_label("外貌", exact=True)).to_be_focused()
    page.keyboard.type("，戴一顶蓝色渔夫帽")
    screenshot(page, "37-cast-editor-phone-zh", full_page=False)
    with page.expect_response(re.compile(r"/cast/")) as answered:
        editor.get_by_role("button", name="保存").press("Enter")
    assert answered.value.status == 200
    expect(editor).to_be_hidden()
    expect(zhang.locator(".cast-appearance")).to_contain_text("戴一顶蓝色渔夫帽")
    expect(page.locator("#cast-status")).to_contain_text("已保存 张明。")
    expect(zhang.get_by_role("button", name="编辑 张明")).to_be_focused()

    page.set_viewport_size({"width": 1280, "height": 900})
    cast.scroll_into_view_if_needed()
    screenshot(page, "38-cast-desktop-zh")
