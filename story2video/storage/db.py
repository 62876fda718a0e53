"""The service's database, one interface over a SQLite file or a PostgreSQL server.

SQL is written once, with ``?`` placeholders and syntax both understand (``INSERT … ON CONFLICT``,
``RETURNING``); each side adapts what it must. Rows read like ``sqlite3.Row`` on both: ``row["col"]``,
``row[0]``, ``dict(row)``, and iterating a row gives its values.

``open_database`` chooses the side from DATABASE_URL; ``Database(path)`` still opens a SQLite file,
as it did before PostgreSQL was supported (like ``pathlib.Path`` giving a ``PosixPath``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

from story2video.errors import ConfigurationError
from story2video.storage.schema import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "Cursor", "Database", "DuplicateKey", "Row", "Transaction", "open_database"]

Params = Sequence[Any]


class DuplicateKey(Exception):
    """An INSERT met an existing primary key or unique value. It ends the transaction it happened in
    (PostgreSQL aborts it): catch it outside the ``with db.transaction()`` block."""


class Row(Protocol):
    def __getitem__(self, key: int | str) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Transaction(ABC):
    """The statements of one transaction. After a ``DuplicateKey`` it refuses further statements, on
    both databases alike, because PostgreSQL would refuse them."""

    def __init__(self) -> None:
        self._ended_by: DuplicateKey | None = None

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        self._check_open()
        try:
            return self._execute(sql, params)
        except DuplicateKey as error:
            self._ended_by = error
            raise

    def executemany(self, sql: str, rows: Sequence[Params]) -> Cursor:
        self._check_open()
        try:
            return self._executemany(sql, rows)
        except DuplicateKey as error:
            self._ended_by = error
            raise

    def _check_open(self) -> None:
        if self._ended_by is not None:
            raise RuntimeError(f"this transaction ended with DuplicateKey ({self._ended_by}); catch it outside the transaction")

    @abstractmethod
    def _execute(self, sql: str, params: Params) -> Cursor: ...

    @abstractmethod
    def _executemany(self, sql: str, rows: Sequence[Params]) -> Cursor: ...


class Database(ABC):
    """What the repositories use. Thread-safe; commit on success, rollback on any exception."""

    dialect: str  # "sqlite" | "postgresql"
    for_update: str  # appended to a SELECT that locks its rows; "" where the transaction already serialises writers
    location: str  # where the data lives, for messages (never a password)

    def __new__(cls, *args: Any, **kwargs: Any) -> "Database":
        if cls is Database:
            from story2video.storage.sqlite import SqliteDatabase

            return super().__new__(SqliteDatabase)
        return super().__new__(cls)

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Transaction]:
        """One transaction (not nested): its statements all commit at the end of the block, or none does."""

    @abstractmethod
    def fetch_one(self, sql: str, params: Params = ()) -> Row | None: ...

    @abstractmethod
    def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement in its own transaction; the number of rows it changed."""
        with self.transaction() as tx:
            return tx.execute(sql, params).rowcount

    @abstractmethod
    def close(self) -> None: ...


def open_database(url: str, sqlite_path: Path) -> Database:
    """The database DATABASE_URL names: empty → the SQLite file ``sqlite_path``; ``sqlite:///abs/path`` →
    that SQLite file; ``postgresql://…`` or ``postgres://…`` → that PostgreSQL database."""
    url = url.strip()
    if not url:
        from story2video.storage.sqlite import SqliteDatabase

        return SqliteDatabase(sqlite_path)
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "sqlite":
        path = url[len("sqlite://") :]
        if not path.startswith("/"):
            raise ConfigurationError("DATABASE_URL: a SQLite URL names an absolute path, e.g. sqlite:///var/lib/story2video/db.sqlite3")
        from story2video.storage.sqlite import SqliteDatabase

        return SqliteDatabase(Path(path))
    if scheme in ("postgresql", "postgres"):
        from story2video.storage.postgres import PostgresDatabase

        return PostgresDatabase(url)
    shown = f"the scheme {scheme!r}" if scheme else "a value without a scheme"
    raise ConfigurationError(
        f"DATABASE_URL has {shown}; use postgresql://user:password@host:port/database, sqlite:///absolute/path, or leave it empty"
    )
