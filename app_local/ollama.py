"""A local Ollama server: storyboards (/api/chat with our JSON schema as ``format``), scripts written
from an idea (/api/chat with ``stream: true``: NDJSON lines of the reply as it is produced) and,
optionally, image-prompt refinement. One chat client with one error mapping serves all three."""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import AsyncIterator, Iterator

import httpx
import ollama

from story2video.config import Settings
from story2video.errors import BackendError, BackendTimeout, BackendUnavailable, describe_exception
from story2video.providers.base import BackendStatus, StageContext, Storyboard, StoryboardRequest
from story2video.providers.cancellable import cancellable
from story2video.providers.llm_script import LlmScriptWriter
from story2video.providers.llm_storyboard import reply_schema, write_with_llm

MAX_PROMPT_CHARS = 1000
_REFINE_SYSTEM = """You write prompts for a text-to-image model.
Rewrite the user's shot description as one English prompt: the subject, setting, composition,
lighting and the requested visual style, as comma-separated phrases. Keep every concrete detail,
add nothing that contradicts it, and reply with the prompt only (no quotes, no explanation)."""
# Ollama's own 404 for a missing model: {"error": "model 'X' not found"} or "model \"X\" not found, try pulling it first".
_MODEL_NOT_FOUND = re.compile(r"^model .+ not found")


class OllamaChat:
    backend = "ollama"

    def __init__(self, settings: Settings, model: str):
        self.url = settings.ollama_url.rstrip("/")
        self.model = model
        self._options = {"temperature": settings.ollama_temperature, "num_ctx": settings.ollama_num_ctx}
        self._keep_alive = settings.ollama_keep_alive
        self._timeout = settings.ollama_timeout_s
        self._connect_timeout = settings.ollama_connect_timeout_s
        timeout = httpx.Timeout(settings.ollama_timeout_s, connect=settings.ollama_connect_timeout_s)
        self._client = ollama.AsyncClient(host=self.url, timeout=timeout)

    async def stream(self, messages: list[dict], json_output: bool) -> AsyncIterator[str]:
        """The reply piece by piece (``stream: true``); leaving the loop early closes the request."""
        with self._errors_mapped():
            parts = await self._client.chat(
                model=self.model,
                messages=messages,
                format="json" if json_output else None,
                options=self._options,
                keep_alive=self._keep_alive,
                stream=True,
            )
            try:
                async for part in parts:
                    yield part.message.content or ""
            finally:
                await parts.aclose()

    @contextmanager
    def _errors_mapped(self) -> Iterator[None]:
        try:
            yield
        except ollama.ResponseError as error:
            raise self._response_error(error) from error
        except ConnectionError as error:
            raise BackendUnavailable(
                f"cannot connect to Ollama at {self.url}: is `ollama serve` running there? (OLLAMA_URL)",
                backend=self.backend,
            ) from error
        except httpx.TimeoutException as error:
            raise BackendTimeout(
                f"Ollama at {self.url} did not answer within {self._timeout:g} s (OLLAMA_TIMEOUT_S)", backend=self.backend
            ) from error
        except httpx.TransportError as error:
            raise BackendUnavailable(
                f"the connection to Ollama at {self.url} failed: {describe_exception(error, with_type=True)}", backend=self.backend
            ) from error

    async def chat(self, messages: list[dict], *, format: dict | None = None) -> str:  # noqa: A002 - Ollama's name
        try:
            response = await self._client.chat(
                model=self.model,
                messages=messages,
                format=format,
                options=self._options,
                keep_alive=self._keep_alive,
                stream=False,
            )
        except ollama.ResponseError as error:
            raise self._response_error(error) from error
        except ConnectionError as error:  # the client's name for httpx.ConnectError (refused, no route, DNS)
            raise BackendUnavailable(
                f"cannot connect to Ollama at {self.url}: is `ollama serve` running there? (OLLAMA_URL)",
                backend=self.backend,
            ) from error
        except httpx.ConnectTimeout as error:
            raise BackendUnavailable(
                f"cannot connect to Ollama at {self.url} within {self._connect_timeout:g} s (OLLAMA_CONNECT_TIMEOUT_S): "
                "is the host up and the port open? (OLLAMA_URL)",
                backend=self.backend,
            ) from error
        except httpx.TimeoutException as error:
            raise BackendTimeout(
                f"Ollama at {self.url} did not answer within {self._timeout:g} s (OLLAMA_TIMEOUT_S)", backend=self.backend
            ) from error
        except httpx.TransportError as error:  # the connection broke, or the reply was not valid HTTP
            raise BackendError(
                f"the connection to Ollama at {self.url} failed during the call: {describe_exception(error, with_type=True)}",
                backend=self.backend,
            ) from error
        return response.message.content or ""

    def _response_error(self, error: ollama.ResponseError) -> BackendError:
        if error.status_code == 404 and _MODEL_NOT_FOUND.match(str(error.error)):
            return BackendUnavailable(
                f"Ollama at {self.url} does not have the model '{self.model}': run `ollama pull {self.model}` "
                "on that host, or set OLLAMA_MODEL",
                backend=self.backend,
            )
        if error.status_code == 404:
            return BackendUnavailable(
                f"{self.url}/api/chat answered 404 without Ollama's error body ({str(error.error)[:200]!r}): "
                "OLLAMA_URL seems not to be an Ollama server; it should be its base, e.g. http://localhost:11434",
                backend=self.backend,
            )
        return BackendError(f"Ollama at {self.url} answered {error.status_code}: {error.error}", backend=self.backend)

    async def status(self, stage: str) -> BackendStatus:
        def result(ready: bool, detail: str) -> BackendStatus:
            return BackendStatus(stage, self.backend, self.model, ready, detail, self.url)

        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.get(f"{self.url}/api/tags")
                response.raise_for_status()
        except httpx.HTTPError as error:
            return result(False, f"cannot reach Ollama: {describe_exception(error, with_type=True)}")
        names = {model.get("name", "") for model in response.json().get("models", [])}
        if self.model in names or f"{self.model}:latest" in names:
            return result(True, f"model {self.model} is available")
        return result(False, f"model {self.model} is not pulled: run `ollama pull {self.model}`")


class OllamaStoryboardWriter:
    backend = "ollama"

    def __init__(self, settings: Settings):
        self._chat = OllamaChat(settings, settings.ollama_model)
        self.model = self._chat.model
        self._attempts = settings.storyboard_attempts

    async def write(self, request: StoryboardRequest, ctx: StageContext) -> Storyboard:
        async def chat(messages: list[dict]) -> str:
            return await cancellable(self._chat.chat(messages, format=reply_schema()), ctx)

        return await write_with_llm(chat, request, ctx, backend=self.backend, attempts=self._attempts)

    async def status(self) -> BackendStatus:
        return await self._chat.status("storyboard")


class OllamaPromptRefiner:
    """PROMPT_REFINER_BACKEND=ollama: a Chinese (or any) shot detail becomes an English image prompt."""

    backend = "ollama"

    def __init__(self, settings: Settings):
        self._chat = OllamaChat(settings, settings.prompt_refiner_model or settings.ollama_model)
        self.model = self._chat.model

    async def refine(self, detail: str, style: str, ctx: StageContext) -> str:
        messages = [
            {"role": "system", "content": _REFINE_SYSTEM},
            {"role": "user", "content": f"Visual style: {style or 'unspecified'}\nShot description: {detail}"},
        ]
        reply = await cancellable(self._chat.chat(messages), ctx)
        prompt = " ".join(reply.strip().strip('"“”').split())
        if not prompt:
            raise BackendError(f"the refiner model '{self.model}' returned an empty prompt", backend=self.backend)
        return prompt[:MAX_PROMPT_CHARS]

    async def status(self) -> BackendStatus:
        return await self._chat.status("prompts")


def ollama_script_writer(settings: Settings) -> LlmScriptWriter:
    """SCRIPT_BACKEND=ollama: scripts streamed from OLLAMA_MODEL."""
    chat = OllamaChat(settings, settings.ollama_model)

    async def status() -> BackendStatus:
        return await chat.status("script")

    return LlmScriptWriter(chat.stream, backend="ollama", model=chat.model, attempts=settings.script_attempts, status=status)
