"""Run one prompt on one host: open the socket, queue the graph, wait until its history holds the outputs.

Completion is read from ``/history/{prompt_id}``, never from a websocket message alone:
ComfyUI sends ``execution_success`` *before* it writes the history and ``executing`` with
``node: null`` after. When the socket drops or goes quiet for ``ws_stall_s`` the history is polled,
and a prompt that is neither queued nor in the history (the host restarted) is reported lost, so
the pool can run the shot elsewhere. Cancel and the job deadline are checked every ``TICK_S``; both
take the prompt off the host (``POST /queue`` delete + ``POST /interrupt``).

The prompt id is handed to ``on_queued`` as soon as the host accepted it, so that it can be noted in
the job ledger; ``follow_prompt`` waits for such a prompt later, from another watcher or process. The
socket's clientId is the prompt id we choose, so a later watcher reconnects as the same client and
receives the prompt's messages. A watch cut short by asyncio cancellation (a worker stopping, not the
operation being cancelled) leaves the prompt running for whoever resumes it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from loguru import logger

from app_local.comfy.client import ComfyClient
from app_local.comfy.failures import BACKEND, HostFailure, PromptUnknown, execution_error, history_failure, interrupted_error
from app_local.comfy.progress import PromptProgress
from app_local.comfy.socket import ComfySocket, SocketEvent
from app_local.comfy.workflow import Graph, nodes_needed
from story2video.errors import BackendError, BackendTimeout, OperationCancelled
from story2video.providers.base import ProgressCallback, StageContext

TICK_S = 0.1


@dataclass(frozen=True)
class JobTimings:
    request_timeout_s: float  # one HTTP call, and the socket's connect
    job_timeout_s: float  # from queueing the prompt to its outputs
    ws_stall_s: float  # socket silence about our prompt after which the history is polled


class _Check(Enum):
    NOTHING = 0
    HISTORY = 1  # finished, or about to be: the history may still be empty (execution_success race)
    HISTORY_OR_LOST = 2  # if the history is empty the prompt must still be queued, or it is lost


async def run_prompt(
    client: ComfyClient, graph: Graph, output_node: str, timings: JobTimings, ctx: StageContext, progress: ProgressCallback,
    on_queued: Callable[[str], None],
) -> dict:
    """Queue ``graph`` on the client's host, tell ``on_queued`` its prompt id, and return its finished history entry."""
    return await _PromptWatch(client, graph, output_node, timings, ctx, progress, str(uuid.uuid4())).run(on_queued)


async def follow_prompt(
    client: ComfyClient, prompt_id: str, graph: Graph, output_node: str, timings: JobTimings, ctx: StageContext,
    progress: ProgressCallback,
) -> dict:
    """The finished history entry of a prompt queued on the client's host earlier, waiting for it
    while it is still queued; ``PromptUnknown`` when the host knows nothing of it. ``graph`` (its
    links; values do not matter) sizes the progress."""
    return await _PromptWatch(client, graph, output_node, timings, ctx, progress, prompt_id).follow()


class _PromptWatch:
    def __init__(
        self, client: ComfyClient, graph: Graph, output_node: str, timings: JobTimings, ctx: StageContext,
        progress: ProgressCallback, prompt_id: str,
    ):
        self._client = client
        self._graph = graph
        self._output_node = output_node
        self._timings = timings
        self._ctx = ctx
        self._progress = PromptProgress(len(nodes_needed(graph, output_node)), progress)
        self.prompt_id = prompt_id
        self._client_id = prompt_id
        self._events: asyncio.Queue[SocketEvent] = asyncio.Queue()
        self._quiet_since = 0.0  # loop time of the last socket news about our prompt

    async def run(self, on_queued: Callable[[str], None]) -> dict:
        socket = ComfySocket(self._client.host, self._client_id, self._events, self._timings.request_timeout_s)
        socket.start()
        try:
            await self._first_socket_event()
            self._ctx.raise_if_cancelled()
            self.prompt_id = await self._client.submit(self._graph, self.prompt_id, self._client_id, self._output_node)
            logger.info("ComfyUI at {} queued prompt {}", self._client.host, self.prompt_id)
            on_queued(self.prompt_id)
            return await self._wait_abandoning_on_exit()
        finally:
            await socket.close()

    async def follow(self) -> dict:
        entry = await self._lookup(_Check.HISTORY_OR_LOST)
        if entry is not None:
            logger.info("ComfyUI at {} had finished prompt {} already", self._client.host, self.prompt_id)
            return entry
        logger.info("ComfyUI at {} still holds prompt {}; waiting for it", self._client.host, self.prompt_id)
        socket = ComfySocket(self._client.host, self._client_id, self._events, self._timings.request_timeout_s)
        socket.start()
        try:
            await self._first_socket_event()
            return await self._wait_abandoning_on_exit()
        finally:
            await socket.close()

    async def _first_socket_event(self) -> None:
        """Give the socket a chance to connect first: messages for a client with no socket are dropped."""
        try:
            async with asyncio.timeout(self._timings.request_timeout_s):  # not wait_for: on 3.11 it may swallow a cancel
                await self._events.get()
        except TimeoutError:
            logger.warning("ComfyUI at {}: the websocket did not connect; relying on /history", self._client.host)

    async def _wait_abandoning_on_exit(self) -> dict:
        try:
            return await self._wait()
        except OperationCancelled:
            raise OperationCancelled(f"the operation was cancelled; {await self._abandon()}") from None
        except BackendTimeout as timeout:
            raise BackendTimeout(f"{timeout.message}; {await self._abandon()}", backend=BACKEND) from None
        except asyncio.CancelledError:
            if self._ctx.is_cancelled():
                logger.info("prompt {} abandoned: {}", self.prompt_id, await self._abandon())
            else:
                logger.info("stopped waiting for prompt {} on {}; it runs on for whoever resumes it", self.prompt_id, self._client.host)
            raise

    async def _abandon(self) -> str:
        """Take the prompt off the host; what happened, for the error message."""
        try:
            await self._client.delete_from_queue(self.prompt_id)
            await self._client.interrupt(self.prompt_id)
        except BackendError as failure:
            reason = failure.reason if isinstance(failure, HostFailure) else failure.message
            return f"ComfyUI at {self._client.host} could not be told to drop prompt {self.prompt_id}: {reason}"
        return f"ComfyUI at {self._client.host} was told to drop prompt {self.prompt_id}"

    async def _wait(self) -> dict:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timings.job_timeout_s
        self._quiet_since = loop.time()
        while True:
            self._ctx.raise_if_cancelled()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise BackendTimeout(
                    f"ComfyUI at {self._client.host} did not finish prompt {self.prompt_id} "
                    f"within {self._timings.job_timeout_s:g} s (COMFY_JOB_TIMEOUT_S)",
                    backend=BACKEND,
                )
            entry = await self._finished_entry(await self._next_check(min(TICK_S, remaining)))
            if entry is not None:
                return entry

    async def _next_check(self, timeout: float) -> _Check:
        """What the next socket event, or ``timeout`` seconds of silence, asks us to look at."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):  # not wait_for: on 3.11 it may swallow a cancel
                event = await self._events.get()
        except TimeoutError:
            if loop.time() - self._quiet_since < self._timings.ws_stall_s:
                return _Check.NOTHING
            self._quiet_since = loop.time()  # poll once per stall period
            return _Check.HISTORY_OR_LOST
        if self._concerns_us(event):
            self._quiet_since = loop.time()
        return self._handle(event)

    def _concerns_us(self, event: SocketEvent) -> bool:
        return event.kind != "message" or event.data.get("prompt_id") == self.prompt_id

    def _handle(self, event: SocketEvent) -> _Check:
        if event.kind == "disconnected":
            logger.info("ComfyUI at {} socket dropped ({}); checking /history", self._client.host, event.reason)
            return _Check.HISTORY_OR_LOST
        if event.kind == "connected":
            return _Check.HISTORY_OR_LOST  # messages sent while we were away are lost
        if event.data.get("prompt_id") != self.prompt_id:
            return _Check.NOTHING  # status broadcasts, other prompts
        return self._handle_message(event.type, event.data)

    def _handle_message(self, kind: str, data: dict) -> _Check:
        if kind == "executing":
            if data.get("node") is None:
                return _Check.HISTORY_OR_LOST  # sent after the history is written
            self._progress.on_executing(data.get("node"))
        elif kind == "execution_cached":
            self._progress.on_cached(data.get("nodes"))
        elif kind == "progress":
            self._progress.on_progress(data.get("value"), data.get("max"))
        elif kind == "execution_success":
            return _Check.HISTORY
        elif kind == "execution_error":
            raise execution_error(self._client.host, data)
        elif kind == "execution_interrupted":
            raise interrupted_error(self._client.host, data)
        return _Check.NOTHING

    async def _finished_entry(self, check: _Check) -> dict | None:
        """The history entry if the prompt has finished; HostFailure if the host no longer knows it."""
        if check is _Check.NOTHING:
            return None
        try:
            return await self._lookup(check)
        except PromptUnknown as unknown:
            raise HostFailure(
                self._client.host, f"lost prompt {self.prompt_id}: neither queued nor in its history (restarted?)"
            ) from unknown

    async def _lookup(self, check: _Check) -> dict | None:
        """The history entry if the prompt has finished, None if not yet; with ``HISTORY_OR_LOST``,
        ``PromptUnknown`` when it is neither queued nor in the history."""
        entry = await self._client.history(self.prompt_id)
        if entry is None and check is _Check.HISTORY_OR_LOST:
            snapshot = await self._client.queue()
            if not snapshot.holds(self.prompt_id):
                entry = await self._client.history(self.prompt_id)  # it may have finished in between
                if entry is None:
                    raise PromptUnknown(self._client.host, self.prompt_id)
        if entry is not None and _failed(entry):
            raise history_failure(self._client.host, entry)
        return entry


def _failed(entry: dict) -> bool:
    status = entry.get("status")
    return isinstance(status, dict) and status.get("status_str") == "error"
