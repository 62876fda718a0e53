"""The page names its user whenever it reads, streams or cancels an operation: operation ids are per user."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from tests.web.test_page import expect, start_story

OPERATION_URL = re.compile(r"/api/v1/operations/[^/?]+(/events|/cancel)?(\?|$)")


def test_every_operation_request_of_the_page_names_its_user(page, live_service):
    seen: list[tuple[str, str]] = []
    page.on("request", lambda request: seen.append((request.method, request.url)))
    page.route(re.compile(r"/events(\?|$)"), lambda route: route.abort())  # so the page polls as well
    page.goto("/")
    live_service.painter.valve.close()
    with page.expect_request(re.compile(r"/api/v1/storyboard/create$")) as created:
        start_story(page, shots=2, title="Whose operation")
    user_id = created.value.post_data_json["user_id"]
    expect(page.locator('#shots .shot[data-state="working"]')).to_have_count(2)
    page.locator("#progress").get_by_role("button", name="Cancel").click()
    expect(page.locator("#progress-text")).to_have_text(re.compile("^Cancelled"))

    operation_requests = [(method, url) for method, url in seen if OPERATION_URL.search(urlsplit(url).path + "?")]
    kinds = {(method, OPERATION_URL.search(urlsplit(url).path + "?")[1] or "") for method, url in operation_requests}
    assert {("GET", "/events"), ("GET", ""), ("POST", "/cancel")} <= kinds, kinds
    for method, url in operation_requests:
        assert parse_qs(urlsplit(url).query).get("user_id") == [user_id], (method, url)
