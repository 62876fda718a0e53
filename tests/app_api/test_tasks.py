"""Polling DashScope tasks: a growing interval, bounded, until a terminal status."""

from __future__ import annotations

import asyncio

import pytest

from app_api.dashscope.errors import Endpoint
from app_api.dashscope.http import DashScopeClient
from app_api.dashscope.images import IMAGE_JOB, IMAGE_PATH
from app_api.dashscope.tasks import PollPolicy, TaskRunner, TaskSpec
from story2video.providers.retry import RetryPolicy
from story2video.errors import BackendTimeout
from story2video.providers.base import StageContext

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
