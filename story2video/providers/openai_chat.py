"""A storyboard writer on any OpenAI-compatible chat endpoint (``POST {base}/chat/completions``):
DeepSeek, Moonshot, Zhipu, SiliconFlow, OpenRouter, a vLLM or LM Studio server.

JSON is asked for the strongest way the endpoint takes: a JSON-schema response format, else JSON
mode, else plain text; with OPENAI_STRUCTURED_OUTPUT=auto an endpoint that refuses a format (400
naming ``response_format``) is asked again one step down, and the step that worked is kept. Whatever
the format, the reply goes through the shared storyboard contract (validation and bounded re-asks).
A reasoning model's thinking (``<think>…</think>`` in the content, or a separate ``reasoning_content``)
is never taken for the answer.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
from loguru import logger

from story2video.config import Settings
from story2video.errors import BackendError, BackendUnavailable, InvalidArtifact, describe_exception
from story2video.providers.base import BackendStatus, StageContext, Storyboard, StoryboardRequest
from story2video.providers.llm_storyboard import reply_schema, write_with_llm
from story2video.providers.retry import RetryPolicy, Service, request_with_retries

BACKEND = "openai"
SERVICE = Service(BACKEND, "OPENAI_TIMEOUT_S", "OPENAI_BASE_URL")
FORMATS = ("json_schema", "json_object", "text")  # strongest first
_THINKING = re.compile(r"<think>.*?(</think>|$)", flags=re.DOTALL | re.IGNORECASE)


class FormatRefused(Exception):
    """The endpoint answered 400 to the response format it was asked for."""


class OpenAIChat:
    def __init__(self, settings: Settings, retry: RetryPolicy | None = None):
        self.base_url = settings.openai_base_url.rstrip("/")
        self.model = settings.openai_model
        self.timeout = settings.openai_timeout_s
        self.temperature = settings.openai_temperature
        self.retry = retry or RetryPolicy.from_settings(settings)
        self._key = settings.openai_api_key
        self.host = urlsplit(self.base_url).netloc or self.base_url

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"} if self._key else {}

    async def complete(self, messages: list[dict], response_format: str) -> str:
        """The answer's text, thinking removed; ``FormatRefused`` when the endpoint refuses the format."""
        body: dict = {"model": self.model, "messages": messages, "temperature": self.temperature, "stream": False}
        if response_format == "json_schema":
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "storyboard", "schema": reply_schema()}}
        elif response_format == "json_object":
            body["response_format"] = {"type": "json_object"}
        url = f"{self.base_url}/chat/completions"
        what = f"the chat endpoint at {self.host}"
        response = await request_with_retries(SERVICE, "POST", url, self.retry, self.timeout, json=body, headers=self._headers())
        if response.status_code == 400 and response_format != "text" and "response_format" in response.text:
            raise FormatRefused(_error_message(response))
        if not response.is_success:
            raise self._error(response)
        return answer_text(response, what)

    def _error(self, response: httpx.Response) -> BackendError:
        status, message = response.status_code, _error_message(response)
        if status in (401, 403):
            return BackendUnavailable(f"OPENAI_API_KEY was rejected by {self.host} ({status}: {message}): set a key this endpoint accepts", backend=BACKEND)
        if status == 404 and "model" in message.lower():
            return BackendUnavailable(f"{self.host} has no model '{self.model}' ({message}): set OPENAI_MODEL to one it offers", backend=BACKEND)
        if status == 404:
            return BackendUnavailable(
                f"{self.base_url}/chat/completions does not exist (404): OPENAI_BASE_URL ends before /chat/completions, e.g. https://api.deepseek.com/v1",
                backend=BACKEND,
            )
        if status == 429:
            return BackendUnavailable(
                f"{self.host} kept answering 429 (rate limit or quota) after {self.retry.attempts} tries: {message}", backend=BACKEND
            )
        return BackendError(f"{self.host} answered {status}: {message}", backend=BACKEND)

    async def status(self, stage: str) -> BackendStatus:
        """Key and model checked with ``GET {base}/models``: no generation is spent."""

        def result(ready: bool, detail: str) -> BackendStatus:
            return BackendStatus(stage, BACKEND, self.model, ready, detail, self.base_url)

        try:
            async with httpx.AsyncClient(timeout=10.0) as http:
                response = await http.get(f"{self.base_url}/models", headers=self._headers())
        except httpx.HTTPError as error:
            return result(False, f"cannot reach {self.host}: {describe_exception(error, with_type=True)}")
        if response.status_code in (401, 403):
            return result(False, f"OPENAI_API_KEY was rejected ({response.status_code}: {_error_message(response)})")
        if response.status_code == 404:
            return result(True, "the endpoint lists no models (GET /models: 404); the model is checked on first use")
        if not response.is_success:
            return result(False, f"GET /models answered {response.status_code}: {_error_message(response)}")
        offered = [str(item.get("id")) for item in (response.json().get("data") or []) if isinstance(item, dict)]
        if self.model in offered:
            return result(True, f"key accepted; model {self.model} is offered")
        return result(False, f"model {self.model} is not offered here (OPENAI_MODEL); offered: {', '.join(offered[:12]) or 'none'}")


def answer_text(response: httpx.Response, what: str) -> str:
    """``choices[0].message.content`` without any thinking; ``reasoning_content`` is never used."""
    try:
        content = response.json()["choices"][0]["message"].get("content")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        content = None
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise InvalidArtifact(f"{what} answered without choices[0].message.content: {response.text[:200]!r}", backend=BACKEND)
    return _THINKING.sub("", content).strip()


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:300]
    if isinstance(error, str):
        return error[:300]
    return response.text[:300] or response.reason_phrase


class OpenAIStoryboardWriter:
    backend = BACKEND

    def __init__(self, settings: Settings, chat: OpenAIChat | None = None):
        self.chat = chat or OpenAIChat(settings)
        self.model = self.chat.model
        self.attempts = settings.storyboard_attempts
        setting = settings.openai_structured_output
        self._formats = list(FORMATS) if setting == "auto" else [setting]

    @property
    def response_format(self) -> str:
        """The format asked for now (in auto mode, the strongest the endpoint has not refused)."""
        return self._formats[0]

    async def write(self, request: StoryboardRequest, ctx: StageContext) -> Storyboard:
        return await write_with_llm(self._ask, request, ctx, backend=self.backend, attempts=self.attempts)

    async def _ask(self, messages: list[dict]) -> str:
        while True:
            try:
                return await self.chat.complete(messages, self.response_format)
            except FormatRefused as refused:
                if len(self._formats) == 1:
                    raise BackendError(
                        f"{self.chat.host} refused response_format {self.response_format} ({refused}): "
                        "set OPENAI_STRUCTURED_OUTPUT=auto or to a format it takes",
                        backend=BACKEND,
                    ) from None
                logger.info("{} refused response_format {} ({}); asking with {}", self.chat.host, self._formats[0], refused, self._formats[1])
                self._formats.pop(0)

    async def status(self) -> BackendStatus:
        return await self.chat.status("storyboard")
