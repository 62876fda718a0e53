"""The DashScope HTTP client: which answers are retried (and after how long), and errors that say
what to fix without ever quoting the key."""

from __future__ import annotations

import asyncio

import pytest

from app_api.dashscope.backends import compatible_base_url
from app_api.dashscope.errors import ContentRejected, Endpoint
from app_api.dashscope.http import DashScopeClient
from story2video.errors import BackendError, BackendUnavailable
from story2video.providers.retry import RetryPolicy
from tests.fakes.dashscope import KEY, Canned, error_body

ENDPOINT = Endpoint("chat", "qwen-plus", "DASHSCOPE_CHAT_MODEL", "DASHSCOPE_CHAT_CONCURRENCY")
CHAT = {"model": "qwen-plus", "messages": [{"role": "user", "content": "hi"}]}


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client_and_sleep(attempts: int = 4, max_delay: float = 30.0, key: str = KEY) -> tuple[DashScopeClient, RecordingSleep]:
    sleep = RecordingSleep()
    policy = RetryPolicy(attempts, base_delay=1.0, max_delay=max_delay, sleep=sleep, jitter=lambda: 1.0)
    return DashScopeClient(key, retry=policy, timeout=5.0), sleep


def chat(client: DashScopeClient, dashscope) -> dict:
    url = f"{dashscope.url}/compatible-mode/v1/chat/completions"
    return asyncio.run(client.post_json(url, CHAT, ENDPOINT))


def test_429_is_retried_after_the_servers_retry_after(dashscope):
    dashscope.canned["chat"] += [Canned(429, error_body("Throttling.RateQuota", "Requests rate limit exceeded"), {"Retry-After": "7"})]
    client, sleep = client_and_sleep()
    assert chat(client, dashscope)["choices"][0]["message"]["content"]
    assert sleep.waits == [7.0]
    assert len(dashscope.paths("/compatible-mode/v1/chat")) == 2


def test_5xx_backs_off_exponentially_within_the_bound(dashscope):
    dashscope.canned["chat"] += [Canned(500, error_body("InternalError", "oops")), Canned(503, error_body("ServiceUnavailable", "busy"))] * 2
    client, sleep = client_and_sleep(attempts=5, max_delay=3.0)
    chat(client, dashscope)
    assert sleep.waits == [1.0, 2.0, 3.0, 3.0]  # base * 2**n, never above API_RETRY_MAX_DELAY


def test_jitter_keeps_waits_between_half_and_all_of_the_backoff():
    low = RetryPolicy(3, base_delay=2.0, max_delay=100.0, jitter=lambda: 0.0)
    assert [low.delay(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert RetryPolicy(3, 2.0, 100.0, jitter=lambda: 1.0).delay(3) == 8.0
    assert RetryPolicy(3, 2.0, 5.0, jitter=lambda: 1.0).delay(1, retry_after=60.0) == 5.0


def test_throttling_through_every_try_says_what_to_change(dashscope):
    dashscope.canned["chat"] += [Canned(429, error_body("Throttling", "slow down"))] * 3
    client, sleep = client_and_sleep(attempts=3)
    with pytest.raises(BackendUnavailable) as caught:
        chat(client, dashscope)
    assert "429 Throttling: slow down" in caught.value.message
    assert "DASHSCOPE_CHAT_CONCURRENCY" in caught.value.message and "API_RETRY_ATTEMPTS" in caught.value.message
    assert len(sleep.waits) == 2


def test_a_bad_key_is_not_retried_and_names_the_setting(dashscope):
    client, sleep = client_and_sleep(key="sk-wrong-key-0000")
    with pytest.raises(BackendUnavailable) as caught:
        chat(client, dashscope)
    message = caught.value.message
    assert message.startswith("DASHSCOPE_API_KEY was rejected (401 InvalidApiKey")
    assert "DASHSCOPE_BASE_URL" in message and "sk-wrong-key-0000" not in message
    assert sleep.waits == [] and len(dashscope.requests) == 1


def test_a_model_not_enabled_is_not_retried_and_says_so(dashscope):
    dashscope.canned["chat"].append(Canned(403, error_body("AccessDenied.Unpurchased", "Access to model denied.")))
    client, sleep = client_and_sleep()
    with pytest.raises(BackendUnavailable) as caught:
        chat(client, dashscope)
    assert "DASHSCOPE_CHAT_MODEL=qwen-plus" in caught.value.message
    assert "enable the model" in caught.value.message
    assert sleep.waits == []


def test_a_bad_request_is_not_retried(dashscope):
    dashscope.canned["chat"].append(Canned(400, error_body("InvalidParameter", "temperature must be <= 2")))
    client, sleep = client_and_sleep()
    with pytest.raises(BackendError) as caught:
        chat(client, dashscope)
    assert "400 InvalidParameter: temperature must be <= 2" in caught.value.message
    assert "request_id" in caught.value.message
    assert sleep.waits == []


def test_openai_style_moderation_error_is_recognised(dashscope):
    body = {"error": {"code": "data_inspection_failed", "message": "Input data may contain inappropriate content.", "type": "data_inspection_failed"}}
    dashscope.canned["chat"].append(Canned(400, body))
    client, _ = client_and_sleep()
    with pytest.raises(ContentRejected):
        chat(client, dashscope)


def test_an_unreachable_host_is_retried_then_reported(tmp_path):
    client, sleep = client_and_sleep(attempts=2)
    with pytest.raises(BackendUnavailable) as caught:
        asyncio.run(client.post_json("http://127.0.0.1:9/compatible-mode/v1/chat/completions", CHAT, ENDPOINT))
    assert "cannot reach DashScope chat" in caught.value.message and "DASHSCOPE_BASE_URL" in caught.value.message
    assert len(sleep.waits) == 1


def test_compatible_url_defaults_to_the_base_url(cloud_settings):
    settings = cloud_settings(dashscope_base_url="https://dashscope-intl.aliyuncs.com/")
    assert compatible_base_url(settings) == "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"
