"""Readiness of the DashScope backends: one cheap authenticated GET, shared by every stage and
remembered for a short while, so /ready neither floods DashScope nor lies for long."""

from __future__ import annotations

import time
from typing import Callable

import httpx

from app_api.dashscope.errors import BACKEND
from story2video.errors import describe_exception
from story2video.providers.base import BackendStatus

REMEMBER_S = 30.0


class DashScopeProbe:
    def __init__(self, status_of: Callable, url: str, location: str, clock: Callable[[], float] = time.monotonic):
        self._status_of = status_of  # async (url) -> HTTP status
        self.url = url
        self.location = location
        self._clock = clock
        self._last: tuple[float, bool, str] | None = None

    async def status(self, stage: str, model: str) -> BackendStatus:
        ready, detail = await self._check()
        return BackendStatus(stage, BACKEND, model, ready=ready, detail=detail, location=self.location)

    async def _check(self) -> tuple[bool, str]:
        now = self._clock()
        if self._last is not None and now - self._last[0] < REMEMBER_S:
            return self._last[1], self._last[2]
        ready, detail = await self._ask()
        self._last = (now, ready, detail)
        return ready, detail

    async def _ask(self) -> tuple[bool, str]:
        try:
            status = await self._status_of(self.url)
        except httpx.HTTPError as error:
            return False, f"cannot reach DashScope ({describe_exception(error, with_type=True)}); check DASHSCOPE_BASE_URL and the network"
        if status == 401:
            return False, "DASHSCOPE_API_KEY was rejected (401); a key works only on its own region's host (DASHSCOPE_BASE_URL)"
        if status == 403:
            return False, "DashScope denied this API key (403); check the key's workspace and permissions"
        if status >= 500:
            return False, f"DashScope answered {status}; it may be having trouble"
        return True, "reachable; API key accepted"
