"""The storyboard writer on an OpenAI-compatible endpoint, against a fake that speaks the protocol:
structured output with and without JSON-schema support, reasoning models, and each error a user
meets (rejected key, missing model, rate limit)."""

from __future__ import annotations

import asyncio
import time
from typing import Iterator

import pytest

import app_api
import app_local
from story2video.errors import BackendError, BackendUnavailable
from story2video.providers.base import StageContext, StoryboardRequest
from story2video.providers.openai_chat import OpenAIStoryboardWriter
from tests.conftest import create_body, small_settings
from tests.fakes.openai_compat import Canned, FakeOpenAI, error_body

SCRIPT = "The lighthouse keeper climbs the stairs at dusk. He lights the lamp. A ship turns toward the harbour. The keeper waves."


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


def writer_for(fake: FakeOpenAI, tmp_path, **overrides) -> OpenAIStoryboardWriter:
    return OpenAIStoryboardWriter(small_settings(tmp_path, **{**fake.settings(), **overrides}))


def write(writer: OpenAIStoryboardWriter, shot_count: int | None = None):
    request = StoryboardRequest(script=SCRIPT, style="watercolour", shot_count=shot_count, min_shots=1, max_shots=8)
    return asyncio.run(writer.write(request, StageContext())).shots


def test_an_endpoint_with_json_schema_gets_the_storyboard_schema(fake, tmp_path) -> None:
    shots = write(writer_for(fake, tmp_path), shot_count=4)
    assert [shot.narration for shot in shots] == [
        "The lighthouse keeper climbs the stairs at dusk.", "He lights the lamp.", "A ship turns toward the harbour.", "The keeper waves."
    ]  # fmt: skip
    body = fake.requests[0]
    assert body["model"] == "deepseek-chat" and body["stream"] is False
    assert body["response_format"]["type"] == "json_schema"
    assert "shots" in body["response_format"]["json_schema"]["schema"]["properties"]


def test_an_endpoint_without_json_schema_is_asked_in_json_mode_and_it_is_remembered(tmp_path) -> None:
    fake = FakeOpenAI(json_schema=False).start()
    try:
        writer = writer_for(fake, tmp_path)
        write(writer)
        write(writer)
        assert fake.formats_asked() == ["json_schema", "json_object", "json_object"]
    finally:
        fake.stop()


def test_an_endpoint_with_no_structured_output_gets_plain_text_validated_and_re_asked(tmp_path) -> None:
    fake = FakeOpenAI(json_schema=False, json_object=False).start()
    try:
        fake.replies = ["Sure! Here are your shots: 1. dusk 2. lamp"]  # prose first: re-asked with the problem
        shots = write(writer_for(fake, tmp_path), shot_count=2)
        assert len(shots) == 2
        assert fake.formats_asked() == ["json_schema", "json_object", "text", "text"]
        assert "cannot be used" in fake.requests[-1]["messages"][-1]["content"]
    finally:
        fake.stop()


def test_a_format_chosen_in_settings_and_refused_says_what_to_set(tmp_path) -> None:
    fake = FakeOpenAI(json_schema=False).start()
    try:
        with pytest.raises(BackendError, match="OPENAI_STRUCTURED_OUTPUT"):
            write(writer_for(fake, tmp_path, openai_structured_output="json_schema"))
    finally:
        fake.stop()


@pytest.mark.parametrize("reasoning", ["think_tags", "separate"])
def test_a_reasoning_models_thinking_is_never_taken_for_the_answer(fake, tmp_path, reasoning) -> None:
    fake.reasoning = reasoning
    shots = write(writer_for(fake, tmp_path), shot_count=4)
    assert len(shots) == 4 and len(fake.requests) == 1  # the first reply was usable: no re-ask


def test_a_rejected_key_names_the_setting(fake, tmp_path) -> None:
    with pytest.raises(BackendUnavailable, match="OPENAI_API_KEY was rejected"):
        write(writer_for(fake, tmp_path, openai_api_key="sk-wrong"))
    assert len(fake.requests) == 1  # a 401 is final: not retried


def test_a_missing_model_names_the_setting(fake, tmp_path) -> None:
    with pytest.raises(BackendUnavailable, match="no model 'deepseek-reasoner'.*OPENAI_MODEL"):
        write(writer_for(fake, tmp_path, openai_model="deepseek-reasoner"))


def test_a_429_waits_the_retry_after_and_succeeds(fake, tmp_path) -> None:
    fake.canned.append(Canned(429, error_body("Rate limit reached", "rate_limit_exceeded"), {"Retry-After": "1"}))
    started = time.monotonic()
    shots = write(writer_for(fake, tmp_path), shot_count=4)
    assert len(shots) == 4 and len(fake.requests) == 2
    assert time.monotonic() - started >= 0.9  # the server's Retry-After, not the 1 ms backoff


def test_a_429_that_lasts_says_so(fake, tmp_path) -> None:
    for _ in range(3):
        fake.canned.append(Canned(429, error_body("You exceeded your current quota", "insufficient_quota"), {"Retry-After": "0"}))
    with pytest.raises(BackendUnavailable, match="429.*quota"):
        write(writer_for(fake, tmp_path))


def test_ready_checks_key_and_model_without_a_generation(fake, tmp_path) -> None:
    assert asyncio.run(writer_for(fake, tmp_path).status()).ready
    wrong_key = asyncio.run(writer_for(fake, tmp_path, openai_api_key="sk-wrong").status())
    missing = asyncio.run(writer_for(fake, tmp_path, openai_model="gpt-9").status())
    assert not wrong_key.ready and "rejected" in wrong_key.detail
    assert not missing.ready and "deepseek-chat" in missing.detail
    assert fake.requests == []  # no chat completion was spent


@pytest.mark.parametrize("mode", [app_api, app_local], ids=["cloud", "local"])
def test_the_seeds_three_calls_with_the_openai_writer_in_either_mode(make_client, fake, tmp_path, mode) -> None:
    chosen = dict(
        local_inference=mode is app_local, storyboard_backend="openai", image_backend="preview", video_backend="preview", speech_backend="preview", **fake.settings()
    )
    client = make_client(providers=mode.build_providers(small_settings(tmp_path, **chosen)), **chosen)
    created = client.post("/api/v1/storyboard/create", json=create_body(script_content=SCRIPT))
    assert created.status_code == 200, created.text
    shots = created.json()["shots"]
    assert shots[0]["narration"] == "The lighthouse keeper climbs the stairs at dusk."
    regenerated = client.post("/api/v1/shot/regenerate", json={"operation_id": "op-2", "story_id": "story-001", "user_id": "u-001", "shot_id": shots[0]["id"], "detail": "a red lamp"})
    assert regenerated.status_code == 200, regenerated.text
    rendered = client.post("/api/v1/video/render", json={"operation_id": "op-3", "story_id": "story-001", "user_id": "u-001"})
    assert rendered.status_code == 200 and rendered.json()["video_url"], rendered.text
    ready = client.get("/ready").json()
    assert next(b for b in ready["backends"] if b["stage"] == "storyboard")["backend"] == "openai"
