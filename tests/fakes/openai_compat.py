"""A fake OpenAI-compatible chat endpoint, as DeepSeek, Moonshot, vLLM or LM Studio serve it.

- ``POST /v1/chat/completions``: OpenAI's request and answer shapes; ``response_format`` of type
  ``json_schema`` or ``json_object`` is refused with OpenAI's 400 body (``param: response_format``)
  where the endpoint is set not to support it, as many compatible servers do.
- ``GET /v1/models``: ``{"object": "list", "data": [{"id": ...}]}``.
- Errors use OpenAI's body ``{"error": {"message", "type", "param", "code"}}``; a wrong key is 401, an
  unknown model 404 (``model_not_found``); answers queued in ``canned`` (e.g. 429 with Retry-After)
  are served first.
- ``reasoning``: "think_tags" puts a ``<think>`` block before the answer (DeepSeek-R1 on vLLM, QwQ);
  "separate" returns the thinking in ``reasoning_content`` (DeepSeek's reasoner), whose text is a
  decoy that would fail validation if taken for the answer.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.asgi_thread import FakeServer
from tests.fakes.dashscope import storyboard_reply

KEY = "sk-openai-fake-7c1d"
DECOY_THINKING = '{"shots": "I am still thinking: not a storyboard"}'


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


@dataclass
class Canned:
    status: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)


class FakeOpenAI(FakeServer):
    def __init__(self, *, api_key: str | None = KEY, models: tuple[str, ...] = ("deepseek-chat",), json_schema: bool = True, json_object: bool = True):
        self.api_key = api_key
        self.models = list(models)
        self.supports = {"json_schema": json_schema, "json_object": json_object}
        self.reasoning = "none"  # "none" | "think_tags" | "separate"
        self.replies: list[str] = []  # served before the built-in storyboard writer
        self.canned: list[Canned] = []
        self.requests: list[dict] = []  # chat request bodies, in order
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    @property
    def url(self) -> str:
        return f"{super().url}/v1"

    def settings(self, model: str = "deepseek-chat") -> dict:
        return {
            "openai_base_url": self.url, "openai_api_key": self.api_key or "", "openai_model": model,
            "api_retry_attempts": 3, "api_retry_base_delay": 0.001, "api_retry_max_delay": 2.0,
        }  # fmt: skip

    def formats_asked(self) -> list[str]:
        return [body.get("response_format", {}).get("type", "text") for body in self.requests]

    def _refusal(self, request: Request) -> Response | None:
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse(error_body("Incorrect API key provided.", "invalid_request_error", code="invalid_api_key"), status_code=401)
        return None

    async def _models(self, request: Request) -> Response:
        return self._refusal(request) or JSONResponse({"object": "list", "data": [{"id": m, "object": "model", "owned_by": "fake"} for m in self.models]})

    async def _chat(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.requests.append(body)
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        if self.canned:
            canned = self.canned.pop(0)
            return JSONResponse(canned.body, status_code=canned.status, headers=canned.headers)
        if body.get("model") not in self.models:
            message = f"The model `{body.get('model')}` does not exist or you do not have access to it."
            return JSONResponse(error_body(message, "invalid_request_error", code="model_not_found"), status_code=404)
        kind = body.get("response_format", {}).get("type")
        if kind in self.supports and not self.supports[kind]:
            message = f"response_format type '{kind}' is not supported by this model"
            return JSONResponse(error_body(message, "invalid_request_error", param="response_format"), status_code=400)
        return JSONResponse(self._completion(body))

    def _completion(self, body: dict) -> dict:
        if self.replies:
            content = self.replies.pop(0)
        else:
            user = next(m["content"] for m in body["messages"] if m["role"] == "user")
            content = storyboard_reply(user)
        message: dict = {"role": "assistant", "content": content}
        if self.reasoning == "think_tags":
            message["content"] = f"<think>\nThe user wants shots. Draft: {DECOY_THINKING}\n</think>\n\n{content}"
        elif self.reasoning == "separate":
            message["reasoning_content"] = DECOY_THINKING
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        usage = {"prompt_tokens": 120, "completion_tokens": 240, "total_tokens": 360}
        return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "model": body["model"], "choices": [choice], "usage": usage}
