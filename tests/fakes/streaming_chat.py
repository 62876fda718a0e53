"""A fake of the two streaming chat protocols the script writers use, served over real HTTP.

- Ollama ``POST /api/chat`` with ``stream: true`` (its default): ``application/x-ndjson``, one JSON
  object per line, ``done: false`` with a piece of ``message.content``, then a last line with
  ``done: true``, ``done_reason`` and the timings; a mid-stream failure is a line ``{"error": ...}``
  after a 200; an unknown model is 404 ``{"error": "model 'x' not found"}``. ``GET /api/tags``.
- DashScope's OpenAI-compatible ``POST /compatible-mode/v1/chat/completions`` with ``stream: true``:
  ``text/event-stream`` of ``data: {chat.completion.chunk}`` events (``choices[0].delta.content``), the
  last with ``finish_reason: "stop"``, a usage chunk with empty ``choices`` when ``stream_options``
  asks for it, then ``data: [DONE]``; a wrong key is 401 with its error body. ``GET .../models``.

Replies are queued per call (``reply_with``) and sent in pieces of ``piece_chars`` every ``pace_s``.
``hold_at`` stops a reply (every one, or reply ``hold_in_reply``) after that many characters until
``release()`` (or the client leaves);
``closed_early`` counts replies whose client closed the connection before the reply ended.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from datetime import datetime, timezone

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.asgi_thread import FakeServer

KEY = "sk-stream-test-key-000000"


class FakeStreamingChat(FakeServer):
    def __init__(self, models: tuple[str, ...] = ("qwen2.5:7b", "qwen-plus"), piece_chars: int = 5, pace_s: float = 0.0):
        self.models = models
        self.piece_chars = piece_chars
        self.pace_s = pace_s
        self.replies: list[str] = []
        self.broken_after: dict[int, int] = {}  # reply index -> characters sent before an error line
        self.requests: list[dict] = []
        self.hold_at: int | None = None
        self.hold_in_reply: int | None = None  # only this reply (by request index) holds; None: every reply
        self.holding = threading.Event()  # set while a reply waits at hold_at
        self._released = threading.Event()
        self.closed_early = 0
        self.finished = 0
        self.app = Starlette(
            routes=[
                Route("/api/chat", self._ollama_chat, methods=["POST"]),
                Route("/api/tags", self._ollama_tags, methods=["GET"]),
                Route("/compatible-mode/v1/chat/completions", self._openai_chat, methods=["POST"]),
                Route("/compatible-mode/v1/models", self._openai_models, methods=["GET"]),
            ]
        )

    def reply_with(self, *replies: str) -> None:
        self.replies.extend(replies)

    def release(self) -> None:
        self._released.set()

    # ------------------------------------------------------------ Ollama

    async def _ollama_tags(self, _: Request) -> Response:
        return JSONResponse({"models": [{"name": m, "model": m, "modified_at": _now(), "size": 1, "digest": "0" * 64, "details": {}} for m in self.models]})

    async def _ollama_chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        if body.get("model") not in self.models:
            return JSONResponse({"error": f"model '{body.get('model')}' not found"}, status_code=404)
        index, reply = self._next_reply()
        if reply is None:
            return JSONResponse({"error": "the fake has no reply queued"}, status_code=500)

        async def lines():
            async for piece in self._pieces(index, reply):
                if piece is None:
                    yield json.dumps({"error": "an error was encountered while running the model"}) + "\n"
                    return
                yield json.dumps({"model": body["model"], "created_at": _now(), "message": {"role": "assistant", "content": piece}, "done": False}, ensure_ascii=False) + "\n"
            yield json.dumps(
                {"model": body["model"], "created_at": _now(), "message": {"role": "assistant", "content": ""}, "done_reason": "stop", "done": True,
                 "total_duration": 1_000_000, "load_duration": 1000, "prompt_eval_count": 10, "eval_count": len(reply), "eval_duration": 1_000_000}
            ) + "\n"  # fmt: skip

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    # ------------------------------------------------------------ DashScope (OpenAI-compatible)

    async def _openai_models(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return _invalid_key()
        return JSONResponse({"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]})

    async def _openai_chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return _invalid_key()
        if not body.get("stream"):
            return JSONResponse({"error": {"code": "InvalidParameter", "message": "this fake only streams"}}, status_code=400)
        index, reply = self._next_reply()
        if reply is None:
            return JSONResponse({"error": {"code": "InternalError", "message": "the fake has no reply queued"}}, status_code=500)
        chunk_id = f"chatcmpl-{uuid.uuid4().hex}"

        def chunk(delta: dict, finish: str | None) -> str:
            data = {"id": chunk_id, "object": "chat.completion.chunk", "created": int(time.time()), "model": body["model"],
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}  # fmt: skip
            return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

        async def events():
            yield chunk({"role": "assistant", "content": ""}, None)
            async for piece in self._pieces(index, reply):
                if piece is None:
                    yield f"data: {json.dumps({'error': {'code': 'InternalError', 'message': 'model failed mid-stream'}})}\n\n"
                    return
                yield chunk({"content": piece}, None)
            yield chunk({}, "stop")
            if (body.get("stream_options") or {}).get("include_usage"):
                usage = {"prompt_tokens": 10, "completion_tokens": len(reply), "total_tokens": 10 + len(reply)}
                yield f"data: {json.dumps({'id': chunk_id, 'object': 'chat.completion.chunk', 'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    # ------------------------------------------------------------ common

    def _next_reply(self) -> tuple[int, str | None]:
        index = len(self.requests) - 1
        return index, (self.replies.pop(0) if self.replies else None)

    async def _pieces(self, index: int, reply: str):
        """The reply in pieces; None where a mid-stream error is due. Counts a client that left early."""
        done = False
        try:
            for start in range(0, len(reply), self.piece_chars):
                if index in self.broken_after and start >= self.broken_after[index]:
                    yield None
                    done = True
                    return
                held = self.hold_at is not None and self.hold_in_reply in (None, index)
                if held and start >= self.hold_at and not self._released.is_set():
                    self.holding.set()
                    while not self._released.is_set():
                        await asyncio.sleep(0.02)
                yield reply[start : start + self.piece_chars]
                if self.pace_s:
                    await asyncio.sleep(self.pace_s)
            done = True
            self.finished += 1
        finally:
            if not done:
                self.closed_early += 1


def _invalid_key() -> Response:
    return JSONResponse({"error": {"code": "invalid_api_key", "message": "Incorrect API key provided.", "type": "invalid_request_error"}}, status_code=401)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()
