"""PostgreSQL only: an unreachable server is DatabaseUnavailable (503) naming host:port/database and never
the password; an interrupted transaction leaves nothing; the schema is made once by processes starting
together; psycopg is only imported for a PostgreSQL URL."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Iterator

import pytest

from story2video.api.errors import status_for
from story2video.errors import ConfigurationError, DatabaseUnavailable
from story2video.storage.db import open_database
from story2video.storage.postgres import PostgresDatabase, with_psycopg_placeholders
from story2video.storage.schema import SCHEMA_VERSION
from tests.serverproc import ROOT, free_port
from tests.servers.postgres import PostgresServer, running_postgres

PASSWORD = "pw-not-to-be-shown"


@pytest.fixture(scope="module")
def own_server() -> Iterator[PostgresServer]:
    """A server these tests may stop and start again without disturbing the session's."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def own_database(own_server: PostgresServer) -> Iterator[tuple[PostgresServer, PostgresDatabase]]:
    url = own_server.create_database().replace("postgres@", f"postgres:{PASSWORD}@")
    db = PostgresDatabase(url, connect_timeout_s=2, wait_timeout_s=2)
    try:
        yield own_server, db
    finally:
        if not own_server.running:
            own_server.start()
        db.close()


def _assert_names_the_server(error: DatabaseUnavailable, server: PostgresServer) -> None:
    assert f"127.0.0.1:{server.port}/" in error.message
    assert PASSWORD not in error.message and PASSWORD not in str(error)
    assert error.code == "database_unavailable" and status_for(error) == 503


def test_placeholders_become_psycopg_ones_outside_quotes():
    assert with_psycopg_placeholders("SELECT ? WHERE a LIKE '%?%' AND b = ?") == "SELECT %s WHERE a LIKE '%%?%%' AND b = %s"
    assert with_psycopg_placeholders('SELECT "odd?name", 5 % 2, ?') == 'SELECT "odd?name", 5 %% 2, %s'


def test_a_server_that_is_not_there_at_open_is_unavailable():
    port = free_port()
    with pytest.raises(DatabaseUnavailable) as caught:
        open_database(f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/story2video", sqlite_path=ROOT / "unused")
    assert f"127.0.0.1:{port}/story2video" in caught.value.message and PASSWORD not in caught.value.message


def test_a_stopped_server_is_unavailable_and_a_restarted_one_is_used_again(own_database):
    server, db = own_database
    db.execute("INSERT INTO workers (worker_id, hostname, queues, concurrency, started_at, heartbeat_at) VALUES ('w', 'h', '[]', 1, 1, 1)")
    server.stop()
    with pytest.raises(DatabaseUnavailable) as caught:
        db.fetch_one("SELECT COUNT(*) AS n FROM workers")
    _assert_names_the_server(caught.value, server)
    server.start()
    assert db.fetch_one("SELECT COUNT(*) AS n FROM workers")["n"] == 1


def test_a_transaction_cut_by_the_server_going_away_left_nothing_written(own_database):
    server, db = own_database
    insert = "INSERT INTO workers (worker_id, hostname, queues, concurrency, started_at, heartbeat_at) VALUES (?, 'h', '[]', 1, 1, 1)"
    with pytest.raises(DatabaseUnavailable) as caught:
        with db.transaction() as tx:
            tx.execute(insert, ("first",))
            server.stop()
            tx.execute(insert, ("second",))
    _assert_names_the_server(caught.value, server)
    server.start()
    assert db.fetch_all("SELECT worker_id FROM workers") == []


def test_processes_starting_together_on_an_empty_database_make_the_schema_once(postgres_server: PostgresServer):
    url = postgres_server.create_database()
    opened: list[PostgresDatabase] = []
    failures: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(PostgresDatabase(url, max_connections=2))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert failures == [] and len(opened) == 4
        assert [tuple(row) for row in opened[0].fetch_all("SELECT version FROM schema_version")] == [(SCHEMA_VERSION,)]
    finally:
        for db in opened:
            db.close()


def test_a_database_of_a_newer_schema_is_refused(postgres_url: str):
    PostgresDatabase(postgres_url).close()
    db = PostgresDatabase(postgres_url)
    db.execute("UPDATE schema_version SET version=?", (SCHEMA_VERSION + 1,))
    db.close()
    with pytest.raises(ConfigurationError, match="newer"):
        PostgresDatabase(postgres_url)


def test_postgres_urls_of_either_scheme_open_postgres(postgres_url: str):
    for url in (postgres_url, postgres_url.replace("postgresql://", "postgres://")):
        db = open_database(url, sqlite_path=ROOT / "unused")
        assert isinstance(db, PostgresDatabase) and db.dialect == "postgresql" and db.for_update == " FOR UPDATE"
        db.close()


def test_psycopg_is_imported_only_for_a_postgres_url(tmp_path):
    script = (
        "import sys; from pathlib import Path; from story2video.storage.db import open_database; "
        f"open_database('', Path({str(tmp_path / 'db.sqlite3')!r})).close(); "
        "print(sorted(name for name in sys.modules if name.startswith('psycopg')))"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_missing_driver_names_the_requirements_file(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now raises ImportError
    with pytest.raises(ConfigurationError, match="requirements-api.txt"):
        open_database("postgresql://u@127.0.0.1:1/db", sqlite_path=ROOT / "unused")
