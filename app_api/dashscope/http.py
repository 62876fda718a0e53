"""The one HTTP client of the DashScope backends: bearer auth, bounded retries, errors that say
what to fix, and downloads of task results (which live on signed URLs that take no auth header)."""

from __future__ import annotations

import json
from typing import Any, AsyncIterator
from urllib.parse import urlsplit

import httpx

from app_api.dashscope.errors import BACKEND, Endpoint, ResultExpired, TaskUnknown, cannot_be_retried, error_for, parse_error_body
from story2video.errors import BackendError, BackendTimeout, BackendUnavailable, InvalidArtifact, describe_exception
from story2video.providers.retry import RetryPolicy, send_with_retries


class DashScopeClient:
    def __init__(self, api_key: str, *, retry: RetryPolicy, timeout: float):
        self._api_key = api_key
        self.retry = retry
        self.timeout = timeout
        self._tls = httpx.create_ssl_context()  # built once: loading the CA bundle per client costs ~35 ms

    async def post_json(self, url: str, body: dict, endpoint: Endpoint, headers: dict[str, str] | None = None, *, creates: bool = False) -> dict:
        """``creates``: the POST starts a billed task, so only what cannot have reached DashScope is retried."""
        response = await self._send("POST", url, endpoint, creates=creates, json=body, headers=self._auth(headers))
        return _json_object(response, endpoint)

    async def get_json(self, url: str, endpoint: Endpoint) -> dict:
        response = await self._send("GET", url, endpoint, headers=self._auth())
        return _json_object(response, endpoint)

    async def get_task(self, url: str, endpoint: Endpoint) -> dict:
        """A task's status answer; ``TaskUnknown`` when DashScope answers 400/404 for the task id."""
        response = await self._send("GET", url, endpoint, task_url=True, headers=self._auth())
        return _json_object(response, endpoint)

    async def status_of(self, url: str) -> int:
        """One authenticated GET, no retries: the HTTP status (for readiness checks)."""
        async with httpx.AsyncClient(timeout=self.timeout, verify=self._tls) as http:
            return (await http.get(url, headers=self._auth())).status_code

    async def download(self, url: str, endpoint: Endpoint) -> bytes:
        """A task result's bytes; ``ResultExpired`` when its signed URL no longer serves it (403/404)."""
        response = await self._send("GET", url, endpoint, result_url=True)
        return response.content

    async def stream_events(self, url: str, body: dict, endpoint: Endpoint) -> AsyncIterator[dict]:
        """The ``data:`` payloads of a streamed (SSE) answer, parsed, until ``[DONE]``. Not retried: part of
        the reply may already have been used. Leaving the loop early closes the request."""
        what = f"DashScope {endpoint.name} (POST {_where(url)}, streamed)"
        try:
            async with httpx.AsyncClient(timeout=self.timeout, verify=self._tls) as http:
                headers = self._auth({"Accept": "text/event-stream"})
                async with http.stream("POST", url, json=body, headers=headers) as response:
                    if not response.is_success:
                        await response.aread()
                        raise error_for(response, endpoint, 1)
                    async for line in response.aiter_lines():
                        if not line.startswith("data:"):
                            continue  # event names, ids, comments and the blank lines between events
                        payload = line[5:].strip()
                        if payload == "[DONE]":
                            return
                        try:
                            data = json.loads(payload)
                        except ValueError:
                            raise InvalidArtifact(f"{what} sent an event that is not JSON: {payload[:200]!r}", backend=BACKEND) from None
                        if isinstance(data, dict) and data.get("error"):
                            error = data["error"]
                            detail = f"{error.get('code', '')}: {error.get('message', '')}" if isinstance(error, dict) else str(error)
                            raise BackendError(f"{what} failed in the middle of the reply ({detail[:300]})", backend=BACKEND)
                        yield data
        except httpx.TimeoutException as error:
            raise BackendTimeout(f"{what} went silent for {self.timeout:g} s (DASHSCOPE_REQUEST_TIMEOUT_S)", backend=BACKEND) from error
        except httpx.TransportError as error:
            raise BackendUnavailable(
                f"the connection to {what} failed: {describe_exception(error, with_type=True)}; check DASHSCOPE_BASE_URL and the network",
                backend=BACKEND,
            ) from error

    def _auth(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}", **(extra or {})}

    async def _send(
        self, method: str, url: str, endpoint: Endpoint, *, result_url: bool = False, task_url: bool = False, creates: bool = False, **kwargs: Any
    ) -> httpx.Response:
        what = f"DashScope {endpoint.name} ({method} {_where(url)})"
        try:
            async with httpx.AsyncClient(timeout=self.timeout, verify=self._tls) as http:
                response = await send_with_retries(
                    lambda: http.request(method, url, **kwargs), self.retry, what, creates=creates, final=cannot_be_retried
                )
        except httpx.TimeoutException as error:
            if creates:
                raise BackendTimeout(
                    f"{what} gave no answer within {self.timeout:g} s; the task may have been created all the same, so it "
                    "was not submitted again (a second one would be billed): render again to retry (DASHSCOPE_REQUEST_TIMEOUT_S)",
                    backend=BACKEND,
                ) from error
            raise BackendTimeout(
                f"{what} gave no answer within {self.timeout:g} s in {self.retry.attempts} tries "
                "(DASHSCOPE_REQUEST_TIMEOUT_S)",
                backend=BACKEND,
            ) from error
        except httpx.TransportError as error:
            raise BackendUnavailable(
                f"cannot reach {what}: {describe_exception(error, with_type=True)}; check DASHSCOPE_BASE_URL and the network",
                backend=BACKEND,
            ) from error
        if response.is_success:
            return response
        if result_url and response.status_code in (403, 404):
            raise ResultExpired(f"the {endpoint.name} result at {_where(url)} is gone ({response.status_code})", backend=BACKEND)
        if task_url and response.status_code in (400, 404):
            raise TaskUnknown(
                f"DashScope does not know the {endpoint.name} task at {_where(url)} ({response.status_code} "
                f"{parse_error_body(response).describe()})",
                backend=BACKEND,
            )
        if creates and response.status_code >= 500:
            raise BackendUnavailable(
                f"DashScope answered {response.status_code} {parse_error_body(response).describe()} when the {endpoint.name} "
                "task was submitted; it may have been created all the same, so it was not submitted again (a second one "
                "would be billed): render again to retry",
                backend=BACKEND,
            )
        raise error_for(response, endpoint, self.retry.attempts)


def _json_object(response: httpx.Response, endpoint: Endpoint) -> dict:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise InvalidArtifact(
            f"DashScope {endpoint.name} answered with something other than a JSON object: {response.text[:200]!r}", backend=BACKEND
        )
    return data


def _where(url: str) -> str:
    """Scheme, host and path of a URL: signed query strings stay out of messages and logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
