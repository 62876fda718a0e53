"""The database on a PostgreSQL server, shared by API replicas and workers on several hosts.

psycopg 3 with a connection pool (each connection checked as it is borrowed, so a restarted server is
picked up again). SQL arrives with ``?`` placeholders and is translated to psycopg's ``%s``. A server
that cannot be reached, at open or on any later call, raises ``DatabaseUnavailable`` naming
host:port/database (never the password); the interrupted transaction is rolled back by the server.
The schema is created under an advisory lock, so processes starting together on an empty database
do not trip over each other.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Sequence
from urllib.parse import unquote, urlsplit

from story2video.errors import ConfigurationError, DatabaseUnavailable, describe_exception
from story2video.storage import schema
from story2video.storage.db import Cursor, Database, DuplicateKey, Params, Row, Transaction

if TYPE_CHECKING:
    import psycopg

# Any fixed 64-bit number: the key of the advisory lock taken while the schema is created.
_SCHEMA_LOCK_KEY = 5_332_256_614_903_001
# SQLSTATE classes that mean the server went away: 08 connection exception; 57P01-03 shutting down or starting.
_GONE_STATES = ("57P01", "57P02", "57P03")


def _driver() -> tuple[Any, Any]:
    try:
        import psycopg
        import psycopg_pool
    except ImportError as error:
        raise ConfigurationError(
            f"DATABASE_URL names PostgreSQL, which needs psycopg and psycopg-pool ({error}): pip install -r requirements-api.txt"
        ) from error
    return psycopg, psycopg_pool


@functools.lru_cache(maxsize=512)
def with_psycopg_placeholders(sql: str) -> str:
    """``?`` → ``%s`` outside quotes; every ``%`` doubled, so that psycopg reads it as itself."""
    out: list[str] = []
    quote = ""
    for char in sql:
        if char == "%":
            out.append("%%")
        elif quote:
            out.append(char)
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            out.append(char)
        elif char == "?":
            out.append("%s")
        else:
            out.append(char)
    return "".join(out)


class PostgresRow:
    """A row read like ``sqlite3.Row``: by column name or position, ``keys()``, and its values when iterated."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: dict[str, int], values: Sequence[Any]):
        self._index = index
        self._values = tuple(values)

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._index)

    def __repr__(self) -> str:
        return f"PostgresRow({dict(zip(self._index, self._values))!r})"


def _row_factory(cursor: Any) -> Any:
    index: dict[str, int] = {}
    for position, column in enumerate(cursor.description or ()):
        index.setdefault(column.name, position)  # the first of two same-named columns, as sqlite3.Row does
    return functools.partial(PostgresRow, index)


class _PostgresCursor:
    """A finished statement's rows and row count; ``fetchone`` gives None where the statement returns no rows."""

    def __init__(self, cursor: Any):
        self._cursor = cursor
        self.rowcount: int = cursor.rowcount

    def fetchone(self) -> Row | None:
        return self._cursor.fetchone() if self._cursor.description is not None else None

    def fetchall(self) -> list[Row]:
        return self._cursor.fetchall() if self._cursor.description is not None else []


class _PostgresTransaction(Transaction):
    def __init__(self, conn: Any, database: "PostgresDatabase"):
        super().__init__()
        self._conn = conn
        self._database = database

    def _execute(self, sql: str, params: Params) -> Cursor:
        cursor = self._conn.cursor()
        with self._database.errors_translated():
            cursor.execute(with_psycopg_placeholders(sql), tuple(params))
        return _PostgresCursor(cursor)

    def _executemany(self, sql: str, rows: Sequence[Params]) -> Cursor:
        cursor = self._conn.cursor()
        with self._database.errors_translated():
            cursor.executemany(with_psycopg_placeholders(sql), [tuple(row) for row in rows])
        return _PostgresCursor(cursor)


class PostgresDatabase(Database):
    """The service's state on a PostgreSQL server (``postgresql://user:password@host:port/database``)."""

    dialect = "postgresql"
    for_update = " FOR UPDATE"

    def __init__(self, url: str, *, max_connections: int = 10, connect_timeout_s: float = 5.0, wait_timeout_s: float = 5.0):
        psycopg, psycopg_pool = _driver()
        self._psycopg = psycopg
        self._pool_errors = (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed, psycopg_pool.TooManyRequests)
        password = urlsplit(url).password or ""
        self._password_forms = {form for form in (password, unquote(password)) if form}
        self.location = self._location_of(url)
        self._url = url
        self._connection_options = {"connect_timeout": max(2, round(connect_timeout_s)), "row_factory": _row_factory}
        with self.errors_translated():
            # One plain connection first: when the server refuses us, its own words say why.
            psycopg.connect(url, **self._connection_options).close()
        self._pool = psycopg_pool.ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            kwargs=self._connection_options,
            timeout=wait_timeout_s,
            check=psycopg_pool.ConnectionPool.check_connection,
            name=f"story2video {self.location}",
            open=False,
        )
        try:
            with self.errors_translated():
                self._pool.open(wait=True, timeout=connect_timeout_s)
            self._create_schema()
        except BaseException:
            self._pool.close()
            raise

    def _location_of(self, url: str) -> str:
        try:
            parts = self._psycopg.conninfo.conninfo_to_dict(url)
        except self._psycopg.ProgrammingError as error:
            raise ConfigurationError(f"DATABASE_URL is not a PostgreSQL URL libpq can read: {self._without_password(str(error))}") from error
        host = parts.get("host") or "localhost"
        return f"{host}:{parts.get('port') or 5432}/{parts.get('dbname') or parts.get('user') or ''}"

    def _without_password(self, text: str) -> str:
        for form in self._password_forms:
            text = text.replace(form, "***")
        return text

    @contextmanager
    def errors_translated(self) -> Iterator[None]:
        """psycopg's errors as ours: a unique violation → DuplicateKey, a lost server → DatabaseUnavailable."""
        try:
            yield
        except self._psycopg.errors.UniqueViolation as error:
            raise DuplicateKey(self._without_password(str(error).strip())) from error
        except self._psycopg.OperationalError as error:
            if isinstance(error, self._pool_errors):
                cause = self._why_no_connection()
            elif self._server_gone(error):
                cause = describe_exception(error)
            else:
                raise
            raise DatabaseUnavailable(f"the database {self.location} is unavailable: {self._without_password(cause)}") from error

    @staticmethod
    def _server_gone(error: "psycopg.OperationalError") -> bool:
        state = getattr(error, "sqlstate", None)  # None: failed on our side (refused, reset, closed)
        return state is None or state.startswith("08") or state in _GONE_STATES

    def _why_no_connection(self) -> str:
        """The pool waited in vain for a connection: the server's own answer to a fresh one says why."""
        try:
            self._psycopg.connect(self._url, **self._connection_options).close()
        except self._psycopg.OperationalError as refused:
            return describe_exception(refused)
        return "every connection of the pool stayed busy"

    def _create_schema(self) -> None:
        with self.transaction() as tx:
            tx.execute(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK_KEY})")
            tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            found = tx.execute("SELECT MAX(version) AS version FROM schema_version").fetchone()["version"]
            if found is not None and found > schema.SCHEMA_VERSION:
                raise ConfigurationError(
                    f"the database {self.location} has schema {found}, newer than this release's {schema.SCHEMA_VERSION}"
                )
            for statement in schema.create_statements(self.dialect):
                tx.execute(statement)
            for definition in schema.SHOT_COLUMNS_SINCE_3.values():
                tx.execute(f"ALTER TABLE shots ADD COLUMN IF NOT EXISTS {schema.spelled(definition, self.dialect)}")
            if found is None:
                tx.execute("INSERT INTO schema_version (version) VALUES (?)", (schema.SCHEMA_VERSION,))
            elif found < schema.SCHEMA_VERSION:
                tx.execute("UPDATE schema_version SET version=?", (schema.SCHEMA_VERSION,))

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self.errors_translated():
            with self._pool.connection() as conn:  # commits at the end of the block, rolls back on an exception
                yield _PostgresTransaction(conn, self)

    def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        with self.transaction() as tx:
            return tx.execute(sql, params).fetchone()

    def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        with self.transaction() as tx:
            return tx.execute(sql, params).fetchall()

    def close(self) -> None:
        self._pool.close()
