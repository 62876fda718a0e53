"""Run one coroutine per shot, bounded, so that one shot's failure loses no other shot's work."""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Sequence, TypeVar

from story2video.errors import OperationCancelled, Story2VideoError
from story2video.pipeline.progress import Progress, ShotState
from story2video.storage.records import ShotRecord

T = TypeVar("T")


async def run_per_shot(
    progress: Progress,
    shots: Sequence[ShotRecord],
    work: Callable[[ShotRecord], Awaitable[T]],
    concurrency: int,
) -> list[T]:
    """All shots run to their end (finished work is cached); then the first failure, in shot order, is raised."""
    slots = asyncio.Semaphore(concurrency)

    async def guarded(shot: ShotRecord) -> T:
        async with slots:
            progress.context().raise_if_cancelled()
            try:
                return await work(shot)
            except OperationCancelled:
                raise
            except Story2VideoError as error:
                progress.set_shot(shot.shot_id, ShotState.FAILED, error=error.with_context(shot_id=shot.shot_id).to_dict())
                raise

    outcomes = await asyncio.gather(*(guarded(shot) for shot in shots), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, OperationCancelled):
            raise outcome
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return list(outcomes)
