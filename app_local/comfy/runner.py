"""Run a bound workflow on the host pool and download its result: everything done on one host.

Uploading the input image, queueing the prompt, waiting and downloading happen on the same host,
so when that host fails the pool starts all of it again on another one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app_local.comfy.client import ComfyClient
from app_local.comfy.inventory import WorkflowNeeds
from app_local.comfy.outputs import OutputFile, node_output_files
from app_local.comfy.pool import ComfyHostPool
from app_local.comfy.prompt import JobTimings, run_prompt
from app_local.comfy.workflow import BoundWorkflow
from story2video.providers.base import ProgressCallback, StageContext

OutputPicker = Callable[[list[OutputFile], str, str], OutputFile]  # (files, node id, host) -> the result file


@dataclass(frozen=True)
class WorkflowJob:
    workflow: BoundWorkflow
    values: Mapping[str, Any]  # parameter -> value written to its bound inputs
    pick: OutputPicker
    uploads: Mapping[str, Path] = field(default_factory=dict)  # parameter -> image uploaded to the host first


class WorkflowRunner:
    def __init__(self, pool: ComfyHostPool, timings: JobTimings):
        self.pool = pool
        self._timings = timings

    async def run(self, job: WorkflowJob, folder: Path, ctx: StageContext, progress: ProgressCallback) -> Path:
        """Run ``job``; the downloaded result file, in ``folder``."""
        report = _never_backwards(progress)  # a retry on another host starts its prompt over

        async def on_host(client: ComfyClient) -> Path:
            values = dict(job.values)
            for parameter, path in job.uploads.items():
                values[parameter] = await client.upload_image(path)
            graph = job.workflow.fill(values)
            entry = await run_prompt(client, graph, job.workflow.output_node, self._timings, ctx, report)
            result = job.pick(node_output_files(entry, job.workflow.output_node), job.workflow.output_node, client.host)
            dest = folder / f"result{result.suffix}"
            await client.download(result, dest)
            return dest

        return await self.pool.run(on_host, WorkflowNeeds.of(job.workflow))


def _never_backwards(progress: ProgressCallback) -> ProgressCallback:
    highest = 0.0

    def report(value: float) -> None:
        nonlocal highest
        if value > highest:
            highest = value
            progress(value)

    return report
