"""A pool of ComfyUI hosts: least-loaded dispatch, down-marking, and retry of a shot on another host.

Each run leases the host with the shortest queue (``GET /queue``, which also tells whether the host
answers), counting our own jobs already leased to it, so that shots started together spread over
the hosts. A host that fails mid-job (refused or reset connection, timeout, 5xx, a prompt lost in a
restart) is marked down and skipped for ``health_interval_s``; the shot's work starts again on
another host, at most ``max_attempts`` times. Errors the workflow itself causes are not retried.
A host is only leased for a workflow it can run: one that lacks a model file or node class the
workflow names (``inventory``) is skipped for that workflow, and asked again after
``health_interval_s``. ``run_on`` goes back to one named host, where an earlier run queued a prompt.
The pool holds only plain state, so one pool serves every event loop of the process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from loguru import logger

from app_local.comfy.client import ComfyClient
from app_local.comfy.failures import BACKEND, HostFailure
from app_local.comfy.inventory import WorkflowNeeds, missing_on
from story2video.errors import BackendError, BackendUnavailable, ConfigurationError
from story2video.providers.base import BackendStatus

T = TypeVar("T")
_GIB = 1024**3


@dataclass
class HostState:
    url: str
    up: bool = True  # until a call says otherwise
    reason: str = ""  # why it is down
    checked_at: float = float("-inf")
    active: int = 0  # our runs leased to it right now
    lacks: dict[str, tuple[float, tuple[str, ...]]] = field(default_factory=dict)  # workflow key -> (when asked, what it lacks)


@dataclass(frozen=True)
class HostReport:
    url: str
    up: bool
    detail: str
    lacks: tuple[str, ...] = ()  # what the workflow needs and the host does not have

    @property
    def usable(self) -> bool:
        return self.up and not self.lacks

    @property
    def state(self) -> str:
        return "down" if not self.up else "lacks models" if self.lacks else "up"


class ComfyHostPool:
    def __init__(
        self,
        urls: Sequence[str],
        *,
        request_timeout_s: float,
        health_interval_s: float,
        max_attempts: int,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not urls:
            raise ConfigurationError("COMFY_HOSTS names no ComfyUI host")
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ConfigurationError(f"COMFY_HOSTS: '{url}' is not an http:// or https:// URL")
        self._hosts = [HostState(url) for url in urls]
        self._request_timeout_s = request_timeout_s
        self._health_interval_s = health_interval_s
        self._max_attempts = max_attempts
        self._clock = clock

    @property
    def urls(self) -> list[str]:
        return [host.url for host in self._hosts]

    def host_states(self) -> list[HostState]:
        return list(self._hosts)

    async def run(self, work: Callable[[ComfyClient], Awaitable[T]], needs: WorkflowNeeds | None = None) -> T:
        """``work`` on the least-loaded healthy host that has what ``needs`` lists; again on another
        host when that host fails."""
        failed: dict[str, str] = {}
        for attempt in range(1, self._max_attempts + 1):
            host = await self._lease(exclude=failed, needs=needs)
            try:
                async with ComfyClient.open(host.url, self._request_timeout_s) as client:
                    return await work(client)
            except HostFailure as failure:
                self._mark_down(host, failure.reason)
                failed[host.url] = failure.reason
                logger.warning(
                    "ComfyUI host {} failed (attempt {}/{}): {}", host.url, attempt, self._max_attempts, failure.reason
                )
            finally:
                host.active -= 1
        raise BackendUnavailable(
            f"ComfyUI failed on {self._max_attempts} attempt(s) (COMFY_MAX_ATTEMPTS): {_reasons(failed)}", backend=BACKEND
        )

    def knows(self, url: str) -> bool:
        return any(host.url == url for host in self._hosts)

    async def run_on(self, url: str, work: Callable[[ComfyClient], Awaitable[T]]) -> T:
        """``work`` on the one host ``url`` (where a prompt was queued earlier), even if it is marked
        down, and nowhere else; a ``HostFailure`` marks it down and is raised."""
        host = next((host for host in self._hosts if host.url == url), None)
        if host is None:
            raise BackendUnavailable(f"ComfyUI host {url} is not in COMFY_HOSTS", backend=BACKEND)
        host.active += 1
        try:
            async with ComfyClient.open(host.url, self._request_timeout_s) as client:
                result = await work(client)
        except HostFailure as failure:
            self._mark_down(host, failure.reason)
            raise
        finally:
            host.active -= 1
        self._mark_up(host)
        return result

    async def check_hosts(self, needs: WorkflowNeeds | None = None) -> list[HostReport]:
        """Ask every host for ``/system_stats`` (and, given ``needs``, whether it has what the
        workflow names); mark each up or down."""
        return list(await asyncio.gather(*(self._check(host, needs) for host in self._hosts)))

    async def status(self, stage: str, model: str, needs: WorkflowNeeds | None = None) -> BackendStatus:
        """Ready when at least one host answers and has what ``needs`` lists; every host listed with its state."""
        reports = await self.check_hosts(needs)
        up = sum(report.up for report in reports)
        usable = sum(report.usable for report in reports)
        hosts = "; ".join(_host_line(report) for report in reports)
        can_run = f", {usable} with every model and node workflow '{needs.name}' names" if needs is not None else ""
        return BackendStatus(
            stage=stage,
            backend=BACKEND,
            model=model,
            ready=usable > 0,
            detail=f"{up}/{len(reports)} ComfyUI hosts up{can_run}; {hosts}",
            location=", ".join(f"{report.url} ({report.state})" for report in reports),
        )

    # ------------------------------------------------------------ leasing

    async def _lease(self, exclude: dict[str, str], needs: WorkflowNeeds | None) -> HostState:
        now = self._clock()
        candidates = [
            host for host in self._hosts
            if host.url not in exclude and (host.up or now - host.checked_at >= self._health_interval_s)
        ]
        lengths = await asyncio.gather(*(self._queue_length(host, needs) for host in candidates))
        alive = [(host, length) for host, length in zip(candidates, lengths, strict=True) if length is not None]
        if not alive:
            raise self._unavailable(exclude, needs)
        host, _ = min(alive, key=lambda pair: (max(pair[1], pair[0].active), pair[0].active))
        host.active += 1  # no await since the choice: concurrent leases see it
        return host

    async def _queue_length(self, host: HostState, needs: WorkflowNeeds | None) -> int | None:
        """Its queue length (running + pending); None after marking it down, or when it lacks what ``needs`` lists."""
        try:
            async with ComfyClient.open(host.url, self._request_timeout_s) as client:
                snapshot = await client.queue()
                lacks = await self._lacks(client, host, needs, fresh=False)
        except BackendError as error:
            self._mark_down(host, getattr(error, "reason", error.message))
            return None
        self._mark_up(host)
        return None if lacks else snapshot.length

    async def _lacks(self, client: ComfyClient, host: HostState, needs: WorkflowNeeds | None, fresh: bool) -> tuple[str, ...]:
        """What the host lacks for ``needs``, asked again when ``fresh`` or older than ``health_interval_s``."""
        if needs is None:
            return ()
        now = self._clock()
        known = host.lacks.get(needs.key)
        if fresh or known is None or now - known[0] >= self._health_interval_s:
            lacks = tuple(await missing_on(client, needs))
            if lacks and (known is None or known[1] != lacks):
                logger.warning("ComfyUI host {} cannot run workflow '{}': {}", host.url, needs.name, "; ".join(lacks))
            known = host.lacks[needs.key] = (now, lacks)
        return known[1]

    def _unavailable(self, failed: dict[str, str], needs: WorkflowNeeds | None) -> BackendUnavailable:
        reasons = {host.url: failed.get(host.url) or host.reason or self._lack_text(host, needs) or "skipped" for host in self._hosts}
        return BackendUnavailable(f"no ComfyUI host is available: {_reasons(reasons)}", backend=BACKEND)

    @staticmethod
    def _lack_text(host: HostState, needs: WorkflowNeeds | None) -> str:
        if needs is None:
            return ""
        lacks = host.lacks.get(needs.key, (0.0, ()))[1]
        return f"cannot run workflow '{needs.name}': {'; '.join(lacks)}" if lacks else ""

    # ------------------------------------------------------------ health

    async def _check(self, host: HostState, needs: WorkflowNeeds | None) -> HostReport:
        try:
            async with ComfyClient.open(host.url, self._request_timeout_s) as client:
                stats = await client.system_stats()
                lacks = await self._lacks(client, host, needs, fresh=True)
        except BackendError as error:
            self._mark_down(host, getattr(error, "reason", error.message))
            return HostReport(host.url, up=False, detail=host.reason)
        self._mark_up(host)
        return HostReport(host.url, up=True, detail=describe_devices(stats), lacks=lacks)

    def _mark_down(self, host: HostState, reason: str) -> None:
        host.up, host.reason, host.checked_at = False, reason, self._clock()

    def _mark_up(self, host: HostState) -> None:
        host.up, host.reason, host.checked_at = True, "", self._clock()


def describe_devices(stats: dict) -> str:
    """``NVIDIA H100 80GB HBM3 (71.2/79.6 GiB free)`` for each device in ``/system_stats``."""
    devices = stats["devices"] if isinstance(stats.get("devices"), list) else []
    parts = []
    for device in devices:
        if not isinstance(device, dict):
            continue
        name = str(device.get("name") or device.get("type") or "device")
        total, free = device.get("vram_total"), device.get("vram_free")
        if isinstance(total, (int, float)) and isinstance(free, (int, float)) and total > 0:
            name += f" ({free / _GIB:.1f}/{total / _GIB:.1f} GiB free)"
        parts.append(name)
    return ", ".join(parts) or "no device reported"


def _host_line(report: HostReport) -> str:
    line = f"{report.url}: {'up' if report.up else 'down'} ({report.detail})"
    return f"{line}, but lacks {'; '.join(report.lacks)}" if report.lacks else line


def _reasons(reasons: dict[str, str]) -> str:
    return "; ".join(f"{url}: {reason}" for url, reason in reasons.items())
