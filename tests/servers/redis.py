"""A real Redis for tests: Debian's ``redis-server`` on its own port, with its data in a temp folder.

The append-only file is on and fsynced on every write, so whatever was queued survives ``stop()``
and even ``kill()``; ``start()`` brings the server back on the same port and data folder, which is
how a test says "Redis restarted with work queued". The ``redis_server`` fixture skips the test
with an install hint where ``redis-server`` is missing.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO, Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.servers.child import ChildServer

INSTALL_HINT = "redis-server is not installed (Debian: apt-get install redis-server)"


def redis_server_binary() -> str | None:
    return shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")


def free_port(bind: str) -> int:
    with socket.socket() as sock:
        sock.bind((bind, 0))
        return sock.getsockname()[1]


class RedisServer(ChildServer):
    """One ``redis-server`` child process; ``url`` is what Celery and the ``redis`` client connect to."""

    def __init__(self, tmp_dir: Path, port: int | None = None, bind: str = "127.0.0.1"):
        binary = redis_server_binary()
        if binary is None:
            raise FileNotFoundError(INSTALL_HINT)
        self.binary = binary
        self.bind = bind
        self.port = port or free_port(bind)
        self.data_dir = Path(tmp_dir) / f"redis-{self.port}"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log = self.data_dir / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[str] | None = None

    @property
    def host(self) -> str:
        """The address clients dial: the bound one, or loopback when Redis listens on every address."""
        return "127.0.0.1" if self.bind == "0.0.0.0" else self.bind

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def command(self) -> list[str]:
        return [
            self.binary,
            "--port", str(self.port),
            "--bind", self.bind,
            # Without a password Redis refuses clients from other addresses unless protected mode is off;
            # tests bind it to a veth address for clients in other network namespaces.
            "--protected-mode", "no",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--save", "",
            "--daemonize", "no",
            "--logfile", "",
        ]  # fmt: skip

    def start(self, timeout: float = 30.0) -> None:
        """Start (or start again, on the same port and data) and wait until this very process answers."""
        if self.running:
            raise RuntimeError(f"redis-server on port {self.port} is already running")
        self._log_file = open(self.log, "a")  # noqa: SIM115 - closed in stop() and kill()
        self.process = subprocess.Popen(self.command(), stdout=self._log_file, stderr=subprocess.STDOUT)
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        with self.client(retry=False, socket_timeout=1) as client:
            while self.process.poll() is None:
                try:
                    # Ask for the pid: another server already on this port would answer PING as well.
                    if client.info("server")["process_id"] == self.process.pid:
                        return
                except (redis.ConnectionError, redis.TimeoutError):  # not listening yet, or still loading the AOF
                    pass
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"redis-server did not answer within {timeout}s:\n{self.output()}")
                time.sleep(0.05)
        self._close_log()
        raise RuntimeError(f"redis-server exited with {self.process.returncode}:\n{self.output()}")

    def client(self, *, retry: bool = True, **options: float) -> redis.Redis:
        """A client of this server; ``retry=False`` fails at once where redis-py would retry for seconds."""
        if not retry:
            return redis.Redis(host=self.host, port=self.port, retry=Retry(NoBackoff(), 0), **options)
        return redis.Redis(host=self.host, port=self.port, **options)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM: Redis flushes the append-only file and exits."""
        self._end(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown at all, like a crash; the fsynced append-only file still has every write."""
        self._end(signal.SIGKILL, 30.0)


def start_redis(tmp_dir: Path, port: int | None = None, bind: str = "127.0.0.1") -> RedisServer:
    """A started server, or a skipped test where ``redis-server`` is missing."""
    if redis_server_binary() is None:
        pytest.skip(INSTALL_HINT)
    server = RedisServer(tmp_dir, port=port, bind=bind)
    server.start()
    return server


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh Redis for one test (its own port and data, so a test may stop, kill and restart it)."""
    server = start_redis(tmp_path)
    try:
        yield server
    finally:
        server.kill()
