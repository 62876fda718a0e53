"""Bounded retries for cloud HTTP calls: 429, 5xx and network errors are tried again after an
exponential backoff with jitter (or the server's Retry-After); every other answer is final."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Awaitable, Callable
from urllib.parse import urlsplit

import httpx
from loguru import logger

from story2video.config import Settings
from story2video.errors import BackendTimeout, BackendUnavailable, describe_exception

Sleep = Callable[[float], Awaitable[None]]
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int  # tries in all, the first included
    base_delay: float
    max_delay: float
    sleep: Sleep = field(default=asyncio.sleep, compare=False)
    jitter: Callable[[], float] = field(default=random.random, compare=False)  # 0..1

    @classmethod
    def from_settings(cls, settings: Settings) -> "RetryPolicy":
        return cls(settings.api_retry_attempts, settings.api_retry_base_delay, settings.api_retry_max_delay)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``retry`` (1-based): half to all of ``base * 2**(retry-1)``,
        at least the server's Retry-After, never more than ``max_delay``."""
        backoff = self.base_delay * 2 ** (retry - 1) * (0.5 + self.jitter() / 2)
        return min(max(backoff, retry_after or 0.0), self.max_delay)


def is_retryable(status: int) -> bool:
    return status in RETRYABLE_STATUS


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After as seconds, from either of its forms (delta-seconds or an HTTP date)."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)  # the request never reached the server


async def send_with_retries(
    send: Callable[[], Awaitable[httpx.Response]],
    policy: RetryPolicy,
    what: str,
    *,
    creates: bool = False,
    final: Callable[[httpx.Response], bool] | None = None,
) -> httpx.Response:
    """The first final answer of ``send``; after the last try, the last answer (or network error) as is.

    ``creates``: the request starts something billed (a task). Only what the server cannot have
    accepted is tried again (no connection, or 429); a 5xx or a broken connection may have created it,
    so it is final. ``final``: answers that a retry cannot change (e.g. a used-up quota's 429).
    """
    for attempt in range(1, policy.attempts + 1):
        try:
            response = await send()
        except httpx.TransportError as error:
            if attempt == policy.attempts or (creates and not isinstance(error, NOT_SENT)):
                raise
            problem, retry_after = describe_exception(error, with_type=True), None
        else:
            retryable = response.status_code == 429 if creates else is_retryable(response.status_code)
            if not retryable or attempt == policy.attempts or (final is not None and final(response)):
                return response
            problem, retry_after = f"HTTP {response.status_code}", retry_after_seconds(response)
        wait = policy.delay(attempt, retry_after)
        logger.warning("{} failed ({}); try {}/{} in {:.2f} s", what, problem, attempt + 1, policy.attempts, wait)
        await policy.sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")


@dataclass(frozen=True)
class Service:
    """A cloud service as its errors name it: the backend, and the settings that fix a timeout or a wrong address."""

    backend: str
    timeout_setting: str  # e.g. "ARK_TIMEOUT_S"
    address_setting: str  # e.g. "ARK_BASE_URL"


def where(url: str) -> str:
    """Scheme, host and path of a URL: a signed query string stays out of messages and logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


async def request_with_retries(
    service: Service, method: str, url: str, policy: RetryPolicy, timeout: float, **kwargs
) -> httpx.Response:
    """One request to ``service`` through ``send_with_retries``; a timeout or an unreachable host
    becomes the error that names the setting to check."""
    what = f"{service.backend} ({method} {where(url)})"
    try:
        async with httpx.AsyncClient(timeout=timeout) as http:
            return await send_with_retries(lambda: http.request(method, url, **kwargs), policy, what)
    except httpx.TimeoutException as error:
        raise BackendTimeout(f"{what} gave no answer within {timeout:g} s ({service.timeout_setting})", backend=service.backend) from error
    except httpx.TransportError as error:
        raise BackendUnavailable(
            f"cannot reach {what}: {describe_exception(error, with_type=True)}; check {service.address_setting}", backend=service.backend
        ) from error
