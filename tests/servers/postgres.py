"""A real PostgreSQL for tests: Debian's server binaries, a cluster made by ``initdb`` in a temp folder,
``postgres`` on its own port (TCP, and a unix socket in that folder).

The server refuses to run as root, so when the tests run as root the cluster belongs to the
``postgres`` user (or ``nobody``) and the server runs as that user. ``stop()`` then ``start()``
brings it back on the same port and data: how a test says "the database was unreachable for a
while". Fixtures: ``postgres_server`` (one per test session), ``postgres_url`` (a fresh empty
database per test); both skip with an install hint where PostgreSQL is missing.
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Iterator

import psycopg
import pytest

from tests.serverproc import free_port
from tests.servers.child import ChildServer

INSTALL_HINT = "PostgreSQL is not installed (Debian: apt-get install postgresql)"
NO_USER_HINT = "PostgreSQL will not run as root and this machine has no 'postgres' or 'nobody' user to run it as"
SUPERUSER = "postgres"
_database_numbers = itertools.count(1)


def postgres_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin that has initdb and postgres."""
    found = [path for path in Path("/usr/lib/postgresql").glob("*/bin") if (path / "initdb").is_file() and (path / "postgres").is_file()]
    return max(found, key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0, default=None)


def server_account() -> pwd.struct_passwd | None:
    """Who the server runs as: ourselves unless we are root; then 'postgres', else 'nobody'; None if neither exists."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


def skip_reason() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when they can."""
    if postgres_bin_dir() is None:
        return INSTALL_HINT
    if server_account() is None:
        return NO_USER_HINT
    return None


class PostgresServer(ChildServer):
    """One ``postgres`` child process over a cluster of its own. Trust authentication: any password is accepted."""

    def __init__(self, port: int | None = None, listen: str = "127.0.0.1", base_dir: Path | None = None):
        bin_dir, account = postgres_bin_dir(), server_account()
        if bin_dir is None:
            raise FileNotFoundError(INSTALL_HINT)
        if account is None:
            raise PermissionError(NO_USER_HINT)
        self.bin_dir = bin_dir
        self.account = account
        self.listen = listen
        self.port = port or free_port()
        # Not under pytest's tmp_path: its parent is private to root, and the server may run as another user.
        self.root = Path(tempfile.mkdtemp(prefix=f"s2v-pg-{self.port}-", dir=base_dir or os.environ.get("TMPDIR") or "/tmp"))
        os.chown(self.root, account.pw_uid, account.pw_gid)
        self.data_dir = self.root / "data"
        self.log = self.root / "postgres.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[str] | None = None
        self._initdb()

    def _as_server_account(self) -> dict:
        if os.geteuid() != 0:
            return {}
        return {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}

    def _initdb(self) -> None:
        result = subprocess.run(
            [str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync"],
            cwd=self.root,
            capture_output=True,
            text=True,
            **self._as_server_account(),
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        with open(self.data_dir / "pg_hba.conf", "a") as hba:  # clients in other network namespaces too
            hba.write("host all all 0.0.0.0/0 trust\nhost all all ::/0 trust\n")

    @property
    def host(self) -> str:
        """The address clients dial: the listened one, or loopback when the server listens on every address."""
        return "127.0.0.1" if self.listen in ("0.0.0.0", "*") else self.listen

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        secret = f":{password}" if password is not None else ""
        return f"postgresql://{SUPERUSER}{secret}@{self.host}:{self.port}/{database}"

    def start(self, timeout: float = 30.0) -> None:
        """Start (or start again, on the same port and data) and wait until it takes connections."""
        if self.running:
            raise RuntimeError(f"postgres on port {self.port} is already running")
        self._log_file = open(self.log, "a")  # noqa: SIM115 - closed in stop() and crash()
        self.process = subprocess.Popen(
            [
                str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port), "-k", str(self.root),
                "-c", f"listen_addresses={self.listen}",
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            ],
            cwd=self.root,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            **self._as_server_account(),
        )  # fmt: skip
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            try:
                with psycopg.connect(self.url(), connect_timeout=2) as conn:
                    if conn.execute("SELECT pg_postmaster_start_time() IS NOT NULL").fetchone():
                        return
            except psycopg.OperationalError:  # not listening yet, or still starting up
                pass
            if time.monotonic() > deadline:
                self.crash()
                raise RuntimeError(f"postgres did not take connections within {timeout}s:\n{self.output()}")
            time.sleep(0.1)
        self._close_log()
        raise RuntimeError(f"postgres exited with {self.process.returncode}:\n{self.output()}")

    def stop(self, timeout: float = 60.0) -> None:
        """Fast shutdown (SIGINT): open sessions are ended, their transactions rolled back."""
        self._end(signal.SIGINT, timeout)

    def crash(self, timeout: float = 60.0) -> None:
        """Immediate shutdown (SIGQUIT): no checkpoint, like a crash; the next start recovers from the WAL."""
        self._end(signal.SIGQUIT, timeout)


    def create_database(self, name: str | None = None) -> str:
        """A new empty database (``test_<n>`` unless named); its URL."""
        name = name or f"test_{next(_database_numbers)}"
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        """Stop the server and delete its cluster."""
        self.stop()
        shutil.rmtree(self.root)


def start_postgres(port: int | None = None, listen: str = "127.0.0.1") -> PostgresServer:
    """A started server, or a skipped test where PostgreSQL cannot run here."""
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    server = PostgresServer(port=port, listen=listen)
    try:
        server.start()
    except BaseException:
        shutil.rmtree(server.root, ignore_errors=True)
        raise
    return server


@contextmanager
def running_postgres(port: int | None = None, listen: str = "127.0.0.1") -> Iterator[PostgresServer]:
    """A started server (or a skipped test) for the block; removed with its data afterwards."""
    server = start_postgres(port=port, listen=listen)
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One server for the whole test session; tests take a database of their own with ``postgres_url``."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a fresh empty database on the session's server."""
    return postgres_server.create_database()
