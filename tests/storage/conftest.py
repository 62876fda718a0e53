"""The storage tests run against both databases: a SQLite file, and a PostgreSQL server of the test session."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from story2video.storage.db import Database
from story2video.storage.postgres import PostgresDatabase
from story2video.storage.sqlite import SqliteDatabase
from tests.servers.postgres import postgres_server, postgres_url  # noqa: F401 - fixtures

DIALECTS = ["sqlite", "postgresql"]


@pytest.fixture(params=DIALECTS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty database of the current schema: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        database: Database = SqliteDatabase(tmp_path / "db.sqlite3")
    else:
        database = PostgresDatabase(request.getfixturevalue("postgres_url"))
    yield database
    database.close()
