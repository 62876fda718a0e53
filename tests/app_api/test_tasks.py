"""Polling DashScope tasks: a growing interval, bounded, until a terminal status."""

from __future__ import annotations

import asyncio

import pytest

from app_api.dashscope.errors import Endpoint
from app_api.dashscope.http import DashScopeClient
from app_api.dashscope.images import IMAGE_JOB, IMAGE_PATH
from app_api.dashscope.tasks import PollPolicy, TaskRunner, TaskSpec
from story2video.errors import BackendTimeout, BackendUnavailable
from story2video.providers.base import StageContext
from story2video.providers.retry import RetryPolicy
from tests.fakes.dashscope import Canned, error_body

ENDPOINT = Endpoint("image synthesis", "qwen-image-plus", "DASHSCOPE_IMAGE_MODEL", "DASHSCOPE_IMAGE_CONCURRENCY")
BODY = {"model": "qwen-image-plus", "input": {"prompt": "a boat"}, "parameters": {"size": "1328*1328", "n": 1}}
SPEC = TaskSpec(IMAGE_PATH, BODY, ENDPOINT, IMAGE_JOB)


async def output_as_is(output: dict) -> dict:
    return output


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def test_polls_back_off_to_the_maximum_interval(dashscope):
    dashscope.polls_until_done = 4
    clock = FakeClock()
    client = DashScopeClient(dashscope.api_key, retry=RetryPolicy(1, 0.0, 0.0), timeout=5.0)
    runner = TaskRunner(client, dashscope.url, PollPolicy(1.0, 2.0, 5.0, timeout=600.0, sleep=clock.sleep, clock=clock))
    output = asyncio.run(runner.run(SPEC, StageContext(), output_as_is))
    assert output["task_status"] == "SUCCEEDED" and output["results"][0]["url"]
    assert clock.waits == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert len(dashscope.paths("/api/v1/tasks/")) == 5


def test_the_task_timeout_counts_from_the_submission(dashscope):
    dashscope.polls_until_done = 10**6
    clock = FakeClock()
    client = DashScopeClient(dashscope.api_key, retry=RetryPolicy(1, 0.0, 0.0), timeout=5.0)
    runner = TaskRunner(client, dashscope.url, PollPolicy(1.0, 2.0, 5.0, timeout=20.0, sleep=clock.sleep, clock=clock))
    with pytest.raises(BackendTimeout) as caught:
        asyncio.run(runner.run(SPEC, StageContext(), output_as_is))
    assert "was still RUNNING after 20 s (DASHSCOPE_TASK_TIMEOUT_S)" in caught.value.message
    assert sum(clock.waits) <= 20.0 and clock.waits == [1.0, 2.0, 4.0, 5.0, 5.0]


def runner_for(dashscope, attempts: int = 3) -> TaskRunner:
    client = DashScopeClient(dashscope.api_key, retry=RetryPolicy(attempts, 0.0, 0.0), timeout=5.0)
    clock = FakeClock()
    return TaskRunner(client, dashscope.url, PollPolicy(1.0, 2.0, 5.0, timeout=600.0, sleep=clock.sleep, clock=clock))


def test_a_suspended_task_is_waited_for_not_failed(dashscope):
    dashscope.suspended, dashscope.polls_until_done = True, 4
    output = asyncio.run(runner_for(dashscope).run(SPEC, StageContext(), output_as_is))
    assert output["task_status"] == "SUCCEEDED"


def test_a_5xx_to_a_task_submission_is_not_retried_since_the_task_may_exist(dashscope):
    dashscope.canned["image"].append(Canned(500, error_body("InternalError", "internal error")))
    with pytest.raises(BackendUnavailable, match="may have been created") as caught:
        asyncio.run(runner_for(dashscope).run(SPEC, StageContext(), output_as_is))
    assert len(dashscope.paths(IMAGE_PATH)) == 1 and "render again" in caught.value.message


def test_a_429_to_a_task_submission_is_retried(dashscope):
    dashscope.canned["image"].append(Canned(429, error_body("Throttling", "slow down"), {"Retry-After": "0"}))
    asyncio.run(runner_for(dashscope).run(SPEC, StageContext(), output_as_is))
    assert len(dashscope.paths(IMAGE_PATH)) == 2


@pytest.mark.parametrize(
    ("status", "code", "says"),
    [
        (429, "Throttling.AllocationQuota", "quota .* is used up"),
        (429, "insufficient_quota", "quota .* is used up"),
        (400, "Arrearage", "in arrears"),
    ],
)
def test_billing_errors_say_what_to_do_and_are_not_retried(dashscope, status, code, says):
    dashscope.canned["image"].append(Canned(status, error_body(code, "Access denied, please make sure your account is in good standing.")))
    with pytest.raises(BackendUnavailable, match=says):
        asyncio.run(runner_for(dashscope).run(SPEC, StageContext(), output_as_is))
    assert len(dashscope.paths(IMAGE_PATH)) == 1
