"""A fake Ollama server speaking its HTTP protocol (/api/chat non-streaming, /api/tags, error bodies).

Any other path answers 404 with a plain-text "404 page not found", as Ollama's router does (no JSON
error body: that is how a wrong OLLAMA_URL looks). Switches: ``delay_s`` (the chat reply waits),
``cut_off`` (a chat reply promises more bytes than it sends, then the connection closes).
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response


class FakeOllama:
    def __init__(self, server: HTTPServer, models: tuple[str, ...] = ("qwen2.5:7b",), auto_reply: bool = False):
        self.server = server
        self.models = models
        self.auto_reply = auto_reply  # with no reply queued, write one from the request (dev stack)
        self.replies: list[str] = []  # for chats with a JSON-schema ``format`` (storyboards)
        self.plain_replies: list[str] = []  # for chats without one (prompt refinement)
        self.chats: list[dict] = []
        self.delay_s = 0.0
        self.cut_off = False
        server.expect_request("/api/tags", method="GET").respond_with_handler(self._tags)
        server.expect_request("/api/chat", method="POST").respond_with_handler(self._chat)
        server.expect_request(re.compile(r"^(?!/api/(tags|chat)$).*")).respond_with_data(
            "404 page not found", status=404, content_type="text/plain"
        )

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def reply_with(self, *contents: str) -> None:
        self.replies.extend(contents)

    def reply_plainly_with(self, *contents: str) -> None:
        self.plain_replies.extend(contents)

    def _tags(self, _: Request) -> Response:
        models = [
            {"name": name, "model": name, "modified_at": _now(), "size": 4_700_000_000, "digest": "f" * 64, "details": {"format": "gguf"}}
            for name in self.models
        ]
        return _json({"models": models})

    def _chat(self, request: Request) -> Response:
        body = json.loads(request.data)
        self.chats.append(body)
        time.sleep(self.delay_s)
        if self.cut_off:
            return Response([b'{"model": '], content_type="application/json", headers={"Content-Length": "4096", "Connection": "close"})
        if body.get("model") not in self.models:
            return _json({"error": f"model '{body.get('model')}' not found"}, status=404)
        queue = self.replies if body.get("format") else self.plain_replies
        if queue:
            content = queue.pop(0)
        elif self.auto_reply:
            content = _automatic_reply(body)
        else:
            return _json({"error": "fake ollama has no reply queued"}, status=500)
        return _json(
            {
                "model": body["model"],
                "created_at": _now(),
                "message": {"role": "assistant", "content": content},
                "done_reason": "stop",
                "done": True,
                "total_duration": 1_200_000_000,
                "load_duration": 100_000_000,
                "prompt_eval_count": 120,
                "prompt_eval_duration": 200_000_000,
                "eval_count": 300,
                "eval_duration": 900_000_000,
            }
        )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _json(data: dict, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status=status, content_type="application/json; charset=utf-8")


def _automatic_reply(body: dict) -> str:
    """A plausible answer to our own prompts: a storyboard cut at sentence ends, or a refined prompt."""
    question = body["messages"][-1]["content"]
    if not body.get("format"):
        return "an illustration of " + question.split("Shot description:")[-1].strip()
    script = question.split("Script:\n", 1)[-1]
    counts = [int(n) for n in re.findall(r"(\d+) shots", question) + re.findall(r"between (\d+) and", question)]
    wanted = min(counts) if counts else 4
    sentences = [s for s in re.split(r"(?<=[。！？.!?])\s*", script) if s.strip()]
    while len(sentences) < wanted:
        sentences = [part for s in sentences for part in (s[: len(s) // 2], s[len(s) // 2 :]) if part] or ["…"] * wanted
    bounds = [len(sentences) * i // wanted for i in range(wanted + 1)]  # contiguous, none empty
    groups = [sentences[bounds[i] : bounds[i + 1]] for i in range(wanted)]
    shots = [
        {"subject": group[0][:16], "detail": "".join(group), "camera": "中景，缓慢推近", "narration": "".join(group), "tone": "平静"}
        for group in groups
    ]
    return json.dumps({"shots": shots}, ensure_ascii=False)
