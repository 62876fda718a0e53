"""Qwen through DashScope's OpenAI-compatible chat completions: the storyboard writer (JSON output,
validated by the shared storyboard contract), the script writer (the same endpoint streamed:
``stream: true``, SSE ``chat.completion.chunk`` events ending with ``data: [DONE]``) and the softener
of prompts that moderation rejected."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

from loguru import logger

from app_api.dashscope.errors import BACKEND, Endpoint
from app_api.dashscope.http import DashScopeClient
from app_api.dashscope.probe import DashScopeProbe
from story2video.errors import BackendError, InvalidArtifact
from story2video.providers.base import BackendStatus, StageContext, Storyboard, StoryboardRequest
from story2video.providers.llm_storyboard import write_with_llm

SOFTEN_INSTRUCTIONS = (
    "A content-safety filter rejected the following prompt for an image or video generation model. "
    "Rewrite it so that it shows the same scene, mood and composition while avoiding anything a safety "
    "filter may flag (violence, blood, weapons, nudity, real public figures, politics, drugs). "
    "Keep the prompt's language and length. Reply with the rewritten prompt only, no comments."
)


class DashScopeChat:
    """``POST {compatible base}/chat/completions``; the reply's text."""

    def __init__(self, client: DashScopeClient, base_url: str, endpoint: Endpoint, slots: asyncio.Semaphore):
        self.client = client
        self.url = f"{base_url.rstrip('/')}/chat/completions"
        self.endpoint = endpoint
        self._slots = slots

    @property
    def model(self) -> str:
        return self.endpoint.model

    async def complete(self, messages: list[dict], *, json_output: bool) -> str:
        # Qwen3 models think by default and then refuse a call that is not streamed; the storyboard needs no thinking.
        body: dict = {"model": self.model, "messages": messages, "enable_thinking": False}
        if json_output:  # DashScope requires the word "json" in the messages for this mode
            body["response_format"] = {"type": "json_object"}
        async with self._slots:
            answer = await self.client.post_json(self.url, body, self.endpoint)
        try:
            content = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            content = None
        if not isinstance(content, str):
            raise InvalidArtifact(f"DashScope chat answered without choices[0].message.content: {str(answer)[:200]}", backend=BACKEND)
        return content


    async def stream(self, messages: list[dict], json_output: bool) -> AsyncIterator[str]:
        """The reply's text piece by piece, as the model produces it."""
        body: dict = {"model": self.model, "messages": messages, "stream": True, "enable_thinking": False}
        if json_output:
            body["response_format"] = {"type": "json_object"}
        finished = False
        async with self._slots:
            events = self.client.stream_events(self.url, body, self.endpoint)
            try:
                async for chunk in events:
                    for choice in chunk.get("choices") or ():  # the usage chunk at the end has none
                        piece = (choice.get("delta") or {}).get("content")
                        if piece:
                            yield piece
                        finished = finished or bool(choice.get("finish_reason"))
            finally:
                await events.aclose()
        if not finished:
            raise BackendError("DashScope chat stream ended before the reply was complete (no finish_reason)", backend=BACKEND)


class DashScopeStoryboardWriter:
    backend = BACKEND

    def __init__(self, chat: DashScopeChat, attempts: int, probe: DashScopeProbe):
        self.chat = chat
        self.attempts = attempts
        self.probe = probe
        self.model = chat.model

    async def write(self, request: StoryboardRequest, ctx: StageContext) -> Storyboard:
        async def ask(messages: list[dict]) -> str:
            return await self.chat.complete(messages, json_output=True)

        return await write_with_llm(ask, request, ctx, backend=self.backend, attempts=self.attempts)

    async def status(self) -> BackendStatus:
        return await self.probe.status("storyboard", self.model)


class PromptSoftener:
    """Asks the chat model for a milder wording of a prompt that content moderation rejected."""

    def __init__(self, chat: DashScopeChat):
        self.chat = chat

    async def soften(self, prompt: str) -> str:
        messages = [{"role": "system", "content": SOFTEN_INSTRUCTIONS}, {"role": "user", "content": prompt}]
        softened = (await self.chat.complete(messages, json_output=False)).strip().strip('"“”')
        if not softened:
            raise InvalidArtifact("DashScope chat returned an empty rewrite of a rejected prompt", backend=BACKEND)
        logger.info("softened a rejected prompt ({} -> {} characters)", len(prompt), len(softened))
        return softened
