"""Storyboards from a local Ollama server: /api/chat with our JSON schema as ``format``."""

from __future__ import annotations

import httpx
import ollama

from story2video.config import Settings
from story2video.errors import BackendError, BackendTimeout, BackendUnavailable
from story2video.providers.base import BackendStatus, ShotDraft, StageContext, StoryboardRequest
from story2video.providers.cancellable import cancellable
from story2video.providers.llm_storyboard import reply_schema, write_with_llm


class OllamaStoryboardWriter:
    backend = "ollama"

    def __init__(self, settings: Settings):
        self.url = settings.ollama_url.rstrip("/")
        self.model = settings.ollama_model
        self._options = {"temperature": settings.ollama_temperature, "num_ctx": settings.ollama_num_ctx}
        self._keep_alive = settings.ollama_keep_alive
        self._attempts = settings.storyboard_attempts
        self._timeout = settings.ollama_timeout_s
        self._client = ollama.AsyncClient(host=self.url, timeout=settings.ollama_timeout_s)

    async def write(self, request: StoryboardRequest, ctx: StageContext) -> list[ShotDraft]:
        async def chat(messages: list[dict]) -> str:
            return await cancellable(self._chat(messages), ctx)

        return await write_with_llm(chat, request, ctx, backend=self.backend, attempts=self._attempts)

    async def _chat(self, messages: list[dict]) -> str:
        try:
            response = await self._client.chat(
                model=self.model,
                messages=messages,
                format=reply_schema(),
                options=self._options,
                keep_alive=self._keep_alive,
                stream=False,
            )
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
        return response.message.content or ""

    def _response_error(self, error: ollama.ResponseError) -> BackendError:
        if error.status_code == 404:
            return BackendUnavailable(
                f"Ollama at {self.url} does not have the model '{self.model}': run `ollama pull {self.model}` "
                "on that host, or set OLLAMA_MODEL",
                backend=self.backend,
            )
        return BackendError(f"Ollama at {self.url} answered {error.status_code}: {error.error}", backend=self.backend)

    async def status(self) -> BackendStatus:
        def result(ready: bool, detail: str) -> BackendStatus:
            return BackendStatus("storyboard", self.backend, self.model, ready, detail, self.url)

        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.get(f"{self.url}/api/tags")
                response.raise_for_status()
        except httpx.HTTPError as error:
            return result(False, f"cannot reach Ollama: {type(error).__name__}: {error}")
        names = {model.get("name", "") for model in response.json().get("models", [])}
        if self.model in names or f"{self.model}:latest" in names:
            return result(True, f"model {self.model} is available")
        return result(False, f"model {self.model} is not pulled: run `ollama pull {self.model}`")
