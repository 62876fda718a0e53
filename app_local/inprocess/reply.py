"""The way back from a worker thread to the asyncio task awaiting a job.

Everything crosses with ``loop.call_soon_threadsafe``: the future is settled and the caller's
progress callback runs on the event loop's thread, never on the worker's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from loguru import logger


class Reply:
    def __init__(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future, progress: Callable[[float], None]):
        self._loop = loop
        self._future = future
        self._progress = progress

    def progress(self, fraction: float) -> None:
        self._call(self._report, fraction)

    def resolve(self, value: Any) -> None:
        self._call(self._settle, value, None)

    def reject(self, error: BaseException) -> None:
        self._call(self._settle, None, error)

    def _report(self, fraction: float) -> None:
        if not self._future.done():
            self._progress(fraction)

    def _settle(self, value: Any, error: BaseException | None) -> None:
        if self._future.done():  # the awaiting task was cancelled or timed out meanwhile
            return
        if error is None:
            self._future.set_result(value)
        else:
            self._future.set_exception(error)

    def _call(self, callback: Callable[..., None], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError as exc:  # the loop is closed: nobody is waiting any more
            logger.warning("dropped a diffusers result: the event loop that asked for it is gone ({})", exc)
