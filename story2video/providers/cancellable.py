"""Await a backend call while watching the operation's cancel flag."""

from __future__ import annotations

import asyncio
from typing import Awaitable, TypeVar

from story2video.errors import OperationCancelled
from story2video.providers.base import StageContext

T = TypeVar("T")
POLL_S = 0.1


async def cancellable(call: Awaitable[T], ctx: StageContext) -> T:
    """The call's result, or ``OperationCancelled`` soon after the operation is cancelled."""
    task = asyncio.ensure_future(call)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=POLL_S)
            if done:
                return task.result()
            if ctx.is_cancelled():
                raise OperationCancelled()
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
