"""A job ledger that records what a backend told it, and a way to "crash" a provider call once it
noted its job: the call is cancelled the moment the ledger holds an id, as when its worker dies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from story2video.stagecontext import MemoryJobLedger

CRASH_WAIT_S = 30.0


class RecordingLedger(MemoryJobLedger):
    def __init__(self, jobs: dict[str, str] | None = None) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, str]] = []  # ("remember", name, id) | ("forget", name, "")
        for name, job_id in (jobs or {}).items():
            super().remember(name, job_id)

    def remember(self, name: str, job_id: str) -> None:
        self.calls.append(("remember", name, job_id))
        super().remember(name, job_id)

    def forget(self, name: str) -> None:
        self.calls.append(("forget", name, ""))
        super().forget(name)

    def remembered(self, name: str) -> list[str]:
        return [job_id for call, job_name, job_id in self.calls if call == "remember" and job_name == name]


async def crash_once_noted(call: Awaitable[object], ledger: RecordingLedger, name: str) -> str:
    """Run ``call`` until ``ledger`` holds a job under ``name``, then cancel it; the job's id."""
    task = asyncio.ensure_future(call)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CRASH_WAIT_S
    while ledger.recall(name) is None:
        if task.done():
            raise AssertionError(f"the call ended before it noted a job: {task.result()!r}")
        if loop.time() > deadline:
            raise AssertionError(f"no job was noted under {name!r} within {CRASH_WAIT_S:g} s")
        await asyncio.sleep(0.002)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    job_id = ledger.recall(name)
    assert job_id is not None, "the cancelled call dropped its job from the ledger"
    return job_id
