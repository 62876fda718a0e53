"""HTTP calls to one ComfyUI host (httpx), following its server routes.

A transport failure, a timeout or a 5xx becomes ``HostFailure`` (the pool then tries another host);
a 400 from ``POST /prompt`` becomes a BackendError naming each rejected node, class and input.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from loguru import logger

from app_local.comfy.failures import BACKEND, HostFailure, node_error_lines, rejection_error
from app_local.comfy.outputs import OutputFile
from app_local.comfy.workflow import Graph
from story2video.errors import BackendError, describe_exception

_CHUNK = 1 << 20


@dataclass(frozen=True)
class QueueSnapshot:
    running: tuple[str, ...]
    pending: tuple[str, ...]

    def holds(self, prompt_id: str) -> bool:
        return prompt_id in self.running or prompt_id in self.pending

    @property
    def length(self) -> int:
        return len(self.running) + len(self.pending)


class ComfyClient:
    """One host's HTTP API. Open it with ``ComfyClient.open(url, timeout)`` inside the event loop that uses it."""

    def __init__(self, host: str, http: httpx.AsyncClient, timeout: float):
        self.host = host
        self._http = http
        self._timeout = timeout

    @classmethod
    @asynccontextmanager
    async def open(cls, host: str, timeout: float) -> AsyncIterator[ComfyClient]:
        # Proxy variables from the environment are not used: ComfyUI hosts are addressed directly.
        async with httpx.AsyncClient(base_url=host, timeout=timeout, trust_env=False, verify=_tls_context()) as http:
            yield cls(host, http, timeout)

    # ------------------------------------------------------------ prompts

    async def submit(self, graph: Graph, prompt_id: str, client_id: str, output_node: str) -> str:
        """Queue ``graph`` under our own ``prompt_id``; the id ComfyUI queued it under (versions
        before prompt_id was accepted choose their own). BackendError if ComfyUI rejects it."""
        body = {"prompt": graph, "client_id": client_id, "prompt_id": prompt_id}
        response = await self._request("POST", "/prompt", json=body)
        if response.status_code == 400:
            raise rejection_error(self.host, _json_or_text(response))
        payload = self._expect_json(response, "POST /prompt")
        queued_id = str(payload.get("prompt_id") or prompt_id) if isinstance(payload, dict) else prompt_id
        self._check_accepted(payload, output_node, queued_id)
        return queued_id

    def _check_accepted(self, payload: Any, output_node: str, prompt_id: str) -> None:
        """A 200 may still list node errors: fatal when they take our output node with them."""
        node_errors = payload.get("node_errors") if isinstance(payload, dict) else None
        if not node_errors:
            return
        lost = output_node in node_errors or any(
            output_node in (report.get("dependent_outputs") or []) for report in node_errors.values() if isinstance(report, dict)
        )
        problems = "; ".join(node_error_lines(node_errors))
        if lost:
            raise BackendError(
                f"ComfyUI at {self.host} queued prompt {prompt_id} without output node {output_node}: {problems}",
                backend=BACKEND,
            )
        logger.warning("ComfyUI at {} accepted prompt {} with node errors: {}", self.host, prompt_id, problems)

    async def history(self, prompt_id: str) -> dict | None:
        """The prompt's history entry once it has finished; None while it has not (or is unknown)."""
        payload = self._expect_json(await self._request("GET", f"/history/{prompt_id}"), "GET /history")
        entry = payload.get(prompt_id) if isinstance(payload, dict) else None
        return entry if isinstance(entry, dict) else None

    async def queue(self) -> QueueSnapshot:
        payload = self._expect_json(await self._request("GET", "/queue"), "GET /queue")
        return QueueSnapshot(running=_prompt_ids(payload, "queue_running"), pending=_prompt_ids(payload, "queue_pending"))

    async def system_stats(self) -> dict:
        payload = self._expect_json(await self._request("GET", "/system_stats"), "GET /system_stats")
        if not isinstance(payload, dict):
            raise HostFailure(self.host, "GET /system_stats did not answer a JSON object")
        return payload

    async def object_info(self, class_type: str) -> dict | None:
        """``GET /object_info/<class>``: how the host describes the node class; None if it has no such class."""
        call = f"GET /object_info/{class_type}"
        payload = self._expect_json(await self._request("GET", f"/object_info/{quote(class_type, safe='')}"), call)
        if not isinstance(payload, dict):
            raise BackendError(f"ComfyUI at {self.host}: {call} did not answer a JSON object", backend=BACKEND)
        info = payload.get(class_type)
        return info if isinstance(info, dict) else None

    async def interrupt(self, prompt_id: str) -> None:
        self._expect_ok(await self._request("POST", "/interrupt", json={"prompt_id": prompt_id}), "POST /interrupt")

    async def delete_from_queue(self, prompt_id: str) -> None:
        self._expect_ok(await self._request("POST", "/queue", json={"delete": [prompt_id]}), "POST /queue")

    # ------------------------------------------------------------ files

    async def upload_image(self, path: Path) -> str:
        """Upload ``path`` to the host's input folder; the value a LoadImage ``image`` input takes."""
        content = path.read_bytes()
        name = f"story2video-{hashlib.sha256(content).hexdigest()[:20]}{path.suffix.lower() or '.png'}"
        files = {"image": (name, content, "image/png")}
        response = await self._request("POST", "/upload/image", files=files, data={"overwrite": "true", "type": "input"})
        stored = self._expect_json(response, "POST /upload/image")
        if not isinstance(stored, dict) or not stored.get("name"):
            raise BackendError(f"ComfyUI at {self.host}: POST /upload/image answered {stored!r}", backend=BACKEND)
        subfolder = str(stored.get("subfolder") or "")
        return f"{subfolder}/{stored['name']}" if subfolder else str(stored["name"])

    async def download(self, file: OutputFile, dest: Path) -> None:
        """Fetch an output file through ``GET /view`` into ``dest``."""
        params = {"filename": file.filename, "subfolder": file.subfolder, "type": file.type}
        with self._transport_errors("GET /view"):
            async with self._http.stream("GET", "/view", params=params) as response:
                if response.status_code != 200:
                    await response.aread()
                    self._expect_ok(response, f"GET /view {file.filename}")
                with dest.open("wb") as sink:
                    async for chunk in response.aiter_bytes(_CHUNK):
                        sink.write(chunk)

    # ------------------------------------------------------------ plumbing

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self._transport_errors(f"{method} {path}"):
            response = await self._http.request(method, path, **kwargs)
        if response.status_code >= 500:
            raise HostFailure(self.host, f"{method} {path} answered {response.status_code}: {response.text[:300]}")
        return response

    @contextmanager
    def _transport_errors(self, call: str) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException as exc:
            raise HostFailure(self.host, f"no answer to {call} within {self._timeout:g} s") from exc
        except httpx.TransportError as exc:
            raise HostFailure(self.host, f"{call} failed: {describe_exception(exc)}") from exc

    def _expect_ok(self, response: httpx.Response, call: str) -> None:
        if response.status_code >= 500:
            raise HostFailure(self.host, f"{call} answered {response.status_code}: {response.text[:300]}")
        if response.status_code != 200:
            raise BackendError(
                f"ComfyUI at {self.host}: {call} answered {response.status_code}: {response.text[:300]}", backend=BACKEND
            )

    def _expect_json(self, response: httpx.Response, call: str) -> Any:
        self._expect_ok(response, call)
        try:
            return response.json()
        except ValueError as exc:
            raise BackendError(f"ComfyUI at {self.host}: {call} did not answer JSON", backend=BACKEND) from exc


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every client: building one per client costs tens of milliseconds."""
    return httpx.create_ssl_context()


def _prompt_ids(payload: Any, key: str) -> tuple[str, ...]:
    """Prompt ids from ``/queue`` entries ``[number, prompt_id, prompt, extra_data, outputs]``."""
    entries = payload.get(key) if isinstance(payload, dict) else None
    return tuple(str(entry[1]) for entry in entries or [] if isinstance(entry, list) and len(entry) > 1)


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
