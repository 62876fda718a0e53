"""A cluster of real processes for tests and benchmarks: API replicas and Celery workers, each
``python main_dispatcher.py`` with its SERVICE_ROLE, over a real Redis and a real PostgreSQL, sharing
one OUTPUT_DIR; optionally a fake DashScope running as a process of its own."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import httpx

from tests.fakes.dashscope import KEY as DASHSCOPE_KEY
from tests.serverproc import ROOT, free_port, service_env

SCRIPT = (
    "A fox walks into a quiet forest at dawn. She finds a shining stone by the river. "
    "An old owl tells her the stone is a fallen star. The fox carries the star up the hill. "
    "At night she sets it back into the sky, and the forest glows."
)
TERMINAL = ("Success", "Failed", "Cancelled")
SUCCEEDED = re.compile(r"Task story2video\.(\w+)\[[^\]]*\] succeeded in ([\d.]+)s")


def task_seconds(worker_log: str) -> dict[str, list[float]]:
    """The run time of every task a worker's log says it finished, by task name (without "story2video.")."""
    seconds: dict[str, list[float]] = {}
    for task, took in SUCCEEDED.findall(worker_log):
        seconds.setdefault(task, []).append(float(took))
    return seconds


class RoleProcess:
    """One process of the cluster; its log is kept next to the shared data."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path, launcher: Sequence[str] = ()):
        self.name = name
        self.log = log_dir / f"{name}.log"
        self._log_file = open(self.log, "a")  # noqa: SIM115 - closed in stop() and kill()
        self.process = subprocess.Popen(
            [*launcher, sys.executable, "main_dispatcher.py"], cwd=ROOT, env=env, stdout=self._log_file, stderr=subprocess.STDOUT
        )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: nothing is cleaned up, like a crash or the OOM killer."""
        if self.alive:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        self._log_file.close()

    def stop(self, timeout: float = 30.0) -> int:
        if self.alive:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self._log_file.close()
        return self.process.returncode

    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")

    def wait_for_line(self, pattern: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.output()):
                return
            if not self.alive:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.output()[-4000:]}")
            time.sleep(0.1)
        raise AssertionError(f"{self.name} never logged {pattern!r}:\n{self.output()[-4000:]}")


class Api(RoleProcess):
    def __init__(self, name: str, env: dict[str, str], log_dir: Path, host: str = "127.0.0.1"):
        self.port = free_port()
        self.base = f"http://{host}:{self.port}"
        super().__init__(name, {**env, "SERVICE_ROLE": "api", "SERVICE_HOST": host, "SERVICE_PORT": str(self.port)}, log_dir)

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.output()[-4000:]}")
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not come up:\n{self.output()[-4000:]}")

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.base}/api/v1{path}", timeout=kwargs.pop("timeout", 120), **kwargs)

    def operation(self, operation_id: str, user_id: str = "u1") -> dict:
        response = self.call("GET", f"/operations/{operation_id}", params={"user_id": user_id})
        assert response.status_code == 200, response.text
        return response.json()

    def wait_status(self, operation_id: str, statuses: Sequence[str] = TERMINAL, timeout: float = 120.0, user_id: str = "u1") -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            op = self.operation(operation_id, user_id)
            if op["status"] in statuses:
                return op
            time.sleep(0.2)
        raise AssertionError(f"operation {operation_id} is still {op['status']} after {timeout} s: {op}")


def create_body(operation_id: str, story_id: str = "st-1", user_id: str = "u1", script: str = SCRIPT, **extra: Any) -> dict:
    return {
        "operation_id": operation_id, "story_id": story_id, "user_id": user_id,
        "display_name": "fox", "script_content": script, "style": "写实", "shot_count": 5, **extra,
    }  # fmt: skip


class Cluster:
    """Roles started on demand with one shared environment; ``close()`` stops whatever is left."""

    def __init__(self, root: Path, database_url: str, broker_url: str, **env: str):
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = service_env(
            root,
            DATABASE_URL=database_url,
            CELERY_BROKER_URL=broker_url,
            OUTPUT_DIR=str(root / "shared-output"),
            LEASE_TTL_S="3",
            DEFAULT_RESOLUTION="144",
            DEFAULT_FPS="12",
            COMPOSE_WORKERS="1",
            LOG_LEVEL="INFO",
            **env,
        )
        self.processes: list[RoleProcess] = []
        self._numbers: dict[str, int] = {}

    def _name(self, role: str) -> str:
        self._numbers[role] = self._numbers.get(role, 0) + 1
        return f"{role}-{self._numbers[role]}"

    def api(self, host: str = "127.0.0.1", **env: str) -> Api:
        api = Api(self._name("api"), {**self.env, **env}, self.logs, host=host)
        self.processes.append(api)
        api.wait_healthy()
        return api

    def worker(self, launcher: Sequence[str] = (), wait: bool = True, **env: str) -> RoleProcess:
        name = self._name("worker")
        worker = RoleProcess(name, {**self.env, "SERVICE_ROLE": "worker", "WORKER_ID": name, **env}, self.logs, launcher)
        self.processes.append(worker)
        if wait:
            worker.wait_for_line(r"@story2video ready\.")
        return worker

    def close(self) -> None:
        for process in reversed(self.processes):
            process.kill()

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def logs_text(self) -> str:
        return "\n".join(f"===== {p.name}\n{p.output()[-3000:]}" for p in self.processes)


class FakeDashScopeProcess:
    """``python -m tests.fakes.dashscope`` as a process of its own: every worker reaches the same fake."""

    def __init__(self, log_dir: Path, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / "fake-dashscope.log"
        self._log_file = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.dashscope", "--port", str(self.port), *args],
            cwd=ROOT, stdout=self._log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.stats()
                return
            except httpx.TransportError:
                if self.process.poll() is not None:
                    raise AssertionError(f"the fake DashScope exited:\n{self.log.read_text()}") from None
                time.sleep(0.1)
        raise AssertionError("the fake DashScope did not come up")

    def stats(self) -> dict:
        return httpx.get(f"{self.url}/_fake/stats", timeout=5).json()

    def settings_env(self) -> dict[str, str]:
        return {
            "DASHSCOPE_API_KEY": DASHSCOPE_KEY,
            "DASHSCOPE_BASE_URL": self.url,
            "DASHSCOPE_POLL_INTERVAL_S": "0.05",
            "DASHSCOPE_POLL_MAX_INTERVAL_S": "0.2",
            "DASHSCOPE_TASK_TIMEOUT_S": "120",
            "API_RETRY_BASE_DELAY": "0.01",
            "API_RETRY_MAX_DELAY": "0.05",
        }

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self._log_file.close()

    def __enter__(self) -> "FakeDashScopeProcess":
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def sse_events(base: str, operation_id: str, user_id: str = "u1", last_event_id: str | None = None, stop_after: int | None = None):
    """The (id, event, data) of an operation's event stream, until it ends or ``stop_after`` events."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
    events: list[tuple[int, str, dict]] = []
    with httpx.stream(
        "GET", f"{base}/api/v1/operations/{operation_id}/events", params={"user_id": user_id}, headers=headers, timeout=120
    ) as response:
        assert response.status_code == 200, response.read()
        current: dict[str, str] = {}
        for line in response.iter_lines():
            if line.startswith(":"):
                continue
            if not line:
                if "data" in current:
                    events.append((int(current.get("id", "-1")), current.get("event", "message"), json.loads(current["data"])))
                    if stop_after is not None and len(events) >= stop_after:
                        return events
                current = {}
                continue
            field, _, value = line.partition(":")
            current[field] = value.lstrip(" ")
    return events
