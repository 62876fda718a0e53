"""Second chances for one generation: a prompt rejected by content moderation is softened by the
LLM and tried once more; a result whose URL expired before it was fetched is generated once more.

Each second chance is a new task: the task runner has already dropped the failed one from the job
ledger, so the new task's id takes its place there (see tasks.py)."""

from __future__ import annotations

from typing import Awaitable, Callable, TypeVar

from loguru import logger

from app_api.dashscope.chat import PromptSoftener
from app_api.dashscope.errors import BACKEND, ContentRejected, ResultExpired

T = TypeVar("T")


async def with_softened_retry(prompt: str, attempt: Callable[[str], Awaitable[T]], softener: PromptSoftener, what: str) -> T:
    """``attempt(prompt)``; after a moderation rejection, ``attempt(softer prompt)`` once; then a clear failure."""
    try:
        return await attempt(prompt)
    except ContentRejected as rejected:
        logger.warning("DashScope moderation rejected a {} prompt ({}); trying once with a softened prompt", what, rejected.message)
    softened = await softener.soften(prompt)
    try:
        return await attempt(softened)
    except ContentRejected as rejected:
        raise ContentRejected(
            f"DashScope content moderation rejected this shot's {what} prompt, also after the LLM softened it once "
            f"({rejected.message}); reword the shot's detail (POST /api/v1/shot/regenerate) and try again",
            backend=BACKEND,
        ) from rejected


async def resubmitted_if_expired(generate: Callable[[], Awaitable[T]], what: str) -> T:
    """``generate()``; when its result URL had already expired, one fresh ``generate()``."""
    try:
        return await generate()
    except ResultExpired as expired:
        logger.warning("{}; submitting the {} task again", expired.message, what)
    return await generate()
