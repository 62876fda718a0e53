"""Turn whatever a provider raises into an error that names the stage, backend and shot."""

from __future__ import annotations

import asyncio
import errno
from contextlib import contextmanager
from typing import Awaitable, Iterator, TypeVar

from story2video.errors import BackendError, BackendTimeout, OperationCancelled, StorageFull, Story2VideoError, describe_exception

T = TypeVar("T")
# stage -> the setting that bounds one call to its backend
TIMEOUT_SETTINGS = {
    "storyboard": "storyboard_timeout_s",
    "keyframes": "keyframe_timeout_s",
    "clips": "clip_timeout_s",
    "narration": "narration_timeout_s",
    "prompts": "storyboard_timeout_s",
}


@contextmanager
def stage_errors(stage: str, backend: str, shot_id: str | None = None) -> Iterator[None]:
    try:
        yield
    except OperationCancelled:
        raise
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise _unexpected(error, stage, backend, shot_id) from error
        raise StorageFull(f"the disk is full: {stage} output could not be written", stage=stage, shot_id=shot_id) from error
    except Story2VideoError as error:
        if isinstance(error, BackendError) and error.backend is None:
            error.backend = backend
        raise error.with_context(stage=stage, shot_id=shot_id) from error.__cause__
    except Exception as error:  # an unexpected provider bug still fails loudly, with context
        raise _unexpected(error, stage, backend, shot_id) from error


def _unexpected(error: Exception, stage: str, backend: str, shot_id: str | None) -> BackendError:
    where = f" for shot {shot_id}" if shot_id else ""
    return BackendError(
        f"{stage} backend '{backend}' failed{where}: {describe_exception(error, with_type=True)}",
        backend=backend,
        stage=stage,
        shot_id=shot_id,
    )


async def within_timeout(call: Awaitable[T], seconds: float, stage: str, backend: str) -> T:
    """The backend call's result, or ``BackendTimeout`` naming the backend and the setting to raise."""
    try:
        async with asyncio.timeout(seconds):
            return await call
    except TimeoutError:
        setting = TIMEOUT_SETTINGS.get(stage, "").upper()
        raise BackendTimeout(
            f"{stage} backend '{backend}' gave no answer within {seconds:g} s ({setting})", backend=backend, stage=stage
        ) from None
