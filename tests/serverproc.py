"""Run the real service (python main_dispatcher.py) as a child process on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing answers HTTP there


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(data: Path, **extra: str) -> dict[str, str]:
    """The current environment minus backend choices, with storage under ``data`` unless ``extra`` says otherwise."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_BACKEND")}
    env.update({"OUTPUT_DIR": str(data / "out"), "DATABASE_PATH": str(data / "db.sqlite3"), **extra})
    return env


class ServiceProcess:
    def __init__(self, data: Path, **env: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = data / f"service-{self.port}.log"
        self._log_file = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "main_dispatcher.py"],
            cwd=ROOT,
            env=service_env(data, SERVICE_PORT=str(self.port), **env),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the service exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError(f"the service did not come up:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks run, exactly like a crash or the OOM killer."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._log_file.close()

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self._log_file.close()
        return self.output()

    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")
