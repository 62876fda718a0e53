"""The page's "start from an idea" path in Chromium: the script streams in while it is written, an episode
is edited, and an episode becomes a storyboard that takes the script's cast."""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest

from tests.web.conftest import screenshot
from tests.web.test_page import expect, wait_for_keyframes

pytestmark = pytest.mark.browser
EDITED = "【场景1】河边，清晨\n张明说：“我们从这里开始。”李婷笑着说：“好。”"


def _get(url: str) -> dict:
    with urllib.request.urlopen(url) as response:  # noqa: S310 - the test's own service
        return json.loads(response.read())


def test_an_idea_becomes_a_streamed_script_then_an_edited_episode_then_a_storyboard(page, live_service):
    page.goto("/")
    page.get_by_label("Idea", exact=True).fill("实习生张明在一次失误后被迫与上司李婷合作，揭开了公司里的秘密")
    page.get_by_label("Genre", exact=True).fill("都市职场")
    page.get_by_label("Length of an episode", exact=True).fill("3分钟")
    page.get_by_label("Episodes", exact=True).fill("2")
    page.get_by_label("Characters", exact=True).fill("张明,男,28\n李婷,女,25")
    with page.expect_request(re.compile(r"/api/v1/scripts$")) as sent:
        page.get_by_role("button", name="Write script").click()
    body = sent.value.post_data_json
    assert body["episodes"] == 2 and body["characters"] == "张明,男,28\n李婷,女,25"

    episode_one = page.locator('#idea-episodes-list [data-episode="1"]')
    # While it is written, the text grows in place (the preview writer streams a piece every 20 ms).
    expect(page.locator('#idea-episodes-list [data-state="writing"] .idea-episode-text')).to_contain_text("【场景1】")
    expect(page.locator("#idea-cast li")).to_have_count(2)
    expect(page.locator("#idea-cast")).to_contain_text("张明")
    expect(page.locator("#idea-outline li")).to_have_count(2)
    expect(page.locator('#idea-status[data-status="done"]')).to_have_text("Script written.", timeout=60_000)
    expect(page.locator('#idea-episodes-list [data-state="done"]')).to_have_count(2)
    screenshot(page, "script-written")

    user = body["user_id"]
    stored = _get(f"{live_service.url}/api/v1/scripts/{body['script_id']}?user_id={user}")
    assert episode_one.locator(".idea-episode-edit").input_value() == stored["episodes"][0]["text"]

    episode_one.locator(".idea-episode-edit").fill(EDITED)
    episode_one.get_by_role("button", name="Save edit").click()
    expect(episode_one).to_have_attribute("data-state", "edited")
    stored = _get(f"{live_service.url}/api/v1/scripts/{body['script_id']}?user_id={user}")
    assert stored["episodes"][0]["text"] == EDITED and stored["episodes"][0]["state"] == "edited"

    with page.expect_request(re.compile(r"/api/v1/storyboard/create$")) as created:
        episode_one.get_by_role("button", name="Make storyboard").click()
    request = created.value.post_data_json
    assert (request["script_id"], request["episode"]) == (body["script_id"], 1) and "script_content" not in request
    deadline = time.monotonic() + 60
    while _get(f"{live_service.url}/api/v1/operations/{request['operation_id']}?user_id={user}")["status"] != "Success":
        assert time.monotonic() < deadline, "the storyboard did not finish"
        time.sleep(0.2)
    story = _get(f"{live_service.url}/api/v1/stories/{request['story_id']}?user_id={user}")
    wait_for_keyframes(page, len(story["shots"]))
    expect(page.locator("#story-script-text")).to_contain_text("我们从这里开始")
    script_cast = {c["name"]: c["id"] for c in stored["cast"]}
    assert {c["name"]: c["character_id"] for c in story["cast"]} == script_cast  # the story took the script's cast
    screenshot(page, "script-storyboard")
