"""Run a bound workflow on the host pool and download its result: everything done on one host.

Uploading the input image, queueing the prompt, waiting and downloading happen on the same host,
so when that host fails the pool starts all of it again on another one.

The queued prompt is noted in the job ledger (``ctx.jobs``, see ledger.py) before it is awaited. A
run that finds one there resumes it on its host: a finished prompt's outputs are downloaded, a
queued one is waited for; a host no longer configured, unreachable, or that knows nothing of the
prompt gets the workflow queued anew. The note is dropped once the result is downloaded or the
prompt failed for good, and kept when the wait was cut short by asyncio cancellation (a worker
stopping), so that the run taking over finds it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from loguru import logger

from app_local.comfy.client import ComfyClient
from app_local.comfy.failures import HostFailure, PromptUnknown
from app_local.comfy.inventory import WorkflowNeeds
from app_local.comfy.ledger import PROMPT_JOB, QueuedPrompt
from app_local.comfy.outputs import OutputFile, node_output_files
from app_local.comfy.pool import ComfyHostPool
from app_local.comfy.prompt import JobTimings, follow_prompt, run_prompt
from app_local.comfy.workflow import BoundWorkflow
from story2video.errors import Story2VideoError
from story2video.providers.base import ProgressCallback, StageContext

T = TypeVar("T")
OutputPicker = Callable[[list[OutputFile], str, str], OutputFile]  # (files, node id, host) -> the result file


@dataclass(frozen=True)
class WorkflowJob:
    workflow: BoundWorkflow
    values: Mapping[str, Any]  # parameter -> value written to its bound inputs
    pick: OutputPicker
    # parameter -> image uploaded to the host first (a list parameter: the images, in order)
    uploads: Mapping[str, Path | Sequence[Path]] = field(default_factory=dict)


class WorkflowRunner:
    def __init__(self, pool: ComfyHostPool, timings: JobTimings):
        self.pool = pool
        self._timings = timings

    async def run(self, job: WorkflowJob, folder: Path, ctx: StageContext, progress: ProgressCallback) -> Path:
        """Run ``job`` (or resume the prompt ``ctx.jobs`` holds for it); the downloaded result file, in ``folder``."""
        report = _never_backwards(progress)  # a retry on another host starts its prompt over
        resumed = await self._resumed(job, folder, ctx, report)
        if resumed is not None:
            return resumed

        async def on_host(client: ComfyClient) -> Path:
            values = dict(job.values)
            for parameter, paths in job.uploads.items():
                if isinstance(paths, Path):
                    values[parameter] = await client.upload_image(paths)
                else:
                    values[parameter] = [await client.upload_image(path) for path in paths]
            graph = job.workflow.fill(values)

            def note(prompt_id: str) -> None:
                ctx.jobs.remember(PROMPT_JOB, QueuedPrompt(client.host, prompt_id).job_id)

            entry = await run_prompt(client, graph, job.workflow.output_node, self._timings, ctx, report, note)
            return await _download_result(client, entry, job, folder)

        return await _settled(self.pool.run(on_host, WorkflowNeeds.of(job.workflow)), ctx)

    async def _resumed(self, job: WorkflowJob, folder: Path, ctx: StageContext, report: ProgressCallback) -> Path | None:
        """The result of the prompt the ledger holds; None when there is none or it must be queued anew."""
        noted = ctx.jobs.recall(PROMPT_JOB)
        earlier = QueuedPrompt.parse(noted) if noted is not None else None
        if earlier is None:
            return None
        if not self.pool.knows(earlier.host):
            logger.warning("ComfyUI prompt {} was queued on {}, no longer in COMFY_HOSTS; queueing it anew", earlier.prompt_id, earlier.host)
            ctx.jobs.forget(PROMPT_JOB)
            return None
        logger.info("ComfyUI prompt {} was queued on {} before; resuming it there", earlier.prompt_id, earlier.host)

        async def on_its_host(client: ComfyClient) -> Path:
            graph = job.workflow.graph  # its links size the progress; the prompt itself is on the host
            entry = await follow_prompt(client, earlier.prompt_id, graph, job.workflow.output_node, self._timings, ctx, report)
            return await _download_result(client, entry, job, folder)

        try:
            return await _settled(self.pool.run_on(earlier.host, on_its_host), ctx)
        except (HostFailure, PromptUnknown) as gone:
            logger.warning("cannot resume ComfyUI prompt {} ({}); queueing it anew", earlier.prompt_id, gone.message)
            return None


async def _download_result(client: ComfyClient, entry: dict, job: WorkflowJob, folder: Path) -> Path:
    result = job.pick(node_output_files(entry, job.workflow.output_node), job.workflow.output_node, client.host)
    dest = folder / f"result{result.suffix}"
    await client.download(result, dest)
    return dest


async def _settled(step: Awaitable[T], ctx: StageContext) -> T:
    """``step``'s result. The ledger forgets the prompt once ``step`` ended, unless asyncio
    cancelled it while the operation goes on (the prompt then runs on for whoever resumes it)."""
    try:
        result = await step
    except asyncio.CancelledError:
        if ctx.is_cancelled():
            ctx.jobs.forget(PROMPT_JOB)
        raise
    except Story2VideoError:
        ctx.jobs.forget(PROMPT_JOB)
        raise
    ctx.jobs.forget(PROMPT_JOB)
    return result


def _never_backwards(progress: ProgressCallback) -> ProgressCallback:
    highest = 0.0

    def report(value: float) -> None:
        nonlocal highest
        if value > highest:
            highest = value
            progress(value)

    return report
