"""The database as one SQLite file: one connection per process, guarded by a lock; WAL, foreign keys on.

The schema is created on open, and a file of an older release (schema 1 or 2) is brought up to the
current one in place, in one transaction, keeping every row.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from story2video.errors import ConfigurationError
from story2video.storage import schema
from story2video.storage.db import Cursor, Database, DuplicateKey, Params, Row, Transaction

# RETURNING (3.35) is the oldest feature the repositories use; ON CONFLICT … DO UPDATE needs 3.24.
_OLDEST_SQLITE = (3, 35, 0)
_DUPLICATE_ERRORS = {"SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"}


def _as_duplicate(error: sqlite3.IntegrityError) -> DuplicateKey | None:
    if getattr(error, "sqlite_errorname", "") in _DUPLICATE_ERRORS:
        return DuplicateKey(str(error))
    return None


class _SqliteTransaction(Transaction):
    def __init__(self, conn: sqlite3.Connection):
        super().__init__()
        self._conn = conn

    def _execute(self, sql: str, params: Params) -> Cursor:
        try:
            return self._conn.execute(sql, tuple(params))
        except sqlite3.IntegrityError as error:
            duplicate = _as_duplicate(error)
            if duplicate is None:
                raise
            raise duplicate from error

    def _executemany(self, sql: str, rows: Sequence[Params]) -> Cursor:
        try:
            return self._conn.executemany(sql, [tuple(row) for row in rows])
        except sqlite3.IntegrityError as error:
            duplicate = _as_duplicate(error)
            if duplicate is None:
                raise
            raise duplicate from error


class SqliteDatabase(Database):
    """The service's SQLite file. Its transactions begin IMMEDIATE: writers queue for the file's one write lock."""

    dialect = "sqlite"
    for_update = ""

    def __init__(self, path: Path):
        if sqlite3.sqlite_version_info < _OLDEST_SQLITE:
            raise ConfigurationError(
                f"SQLite {sqlite3.sqlite_version} is too old; the service needs {'.'.join(map(str, _OLDEST_SQLITE))} or newer"
            )
        self.path = Path(path)
        self.location = str(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA busy_timeout=5000")
        try:
            self._bring_schema_up_to_date()
        except BaseException:
            self._conn.close()
            raise

    def _bring_schema_up_to_date(self) -> None:
        with self.transaction() as tx:
            version = tx.execute("PRAGMA user_version").fetchone()[0]
            if version > schema.SCHEMA_VERSION:
                raise ConfigurationError(
                    f"the database {self.location} has schema {version}, newer than this release's {schema.SCHEMA_VERSION}"
                )
            for statement in schema.create_statements(self.dialect):
                tx.execute(statement)
            _key_operations_by_user(tx)
            _add_operation_columns(tx)
            _add_shot_columns(tx)
            tx.execute(f"PRAGMA user_version={schema.SCHEMA_VERSION}")

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTransaction(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchone()

    def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _operation_columns(tx: Transaction) -> dict[str, int]:
    """Column name -> its position in the primary key (0 when not in it)."""
    return {row["name"]: row["pk"] for row in tx.execute("PRAGMA table_info(operations)").fetchall()}


def _key_operations_by_user(tx: Transaction) -> None:
    """Schema 1 keyed operations by operation_id alone: rebuild the table (SQLite cannot change a
    primary key in place), keeping every row."""
    columns = _operation_columns(tx)
    if columns.get("user_id"):
        return
    tx.execute("ALTER TABLE operations RENAME TO operations_schema_1")
    for (index,) in tx.execute(
        "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='operations_schema_1' AND sql IS NOT NULL"
    ).fetchall():
        tx.execute(f'DROP INDEX "{index}"')  # its name is needed for the new table's index
    for statement in schema.OPERATIONS:
        tx.execute(schema.spelled(statement, "sqlite"))
    names = ", ".join(columns)
    tx.execute(f"INSERT INTO operations ({names}) SELECT {names} FROM operations_schema_1")
    tx.execute("DROP TABLE operations_schema_1")


def _add_operation_columns(tx: Transaction) -> None:
    """Schema 2 operations lack the columns schema 3 added; existing rows get their defaults."""
    columns = _operation_columns(tx)
    for name, definition in schema.OPERATION_COLUMNS_SINCE_2.items():
        if name not in columns:
            tx.execute(f"ALTER TABLE operations ADD COLUMN {definition}")


def _add_shot_columns(tx: Transaction) -> None:
    """Shots of schema 3 lack the cast columns; existing shots get no characters and the narrator's voice."""
    columns = {row["name"] for row in tx.execute("PRAGMA table_info(shots)").fetchall()}
    for name, definition in schema.SHOT_COLUMNS_SINCE_3.items():
        if name not in columns:
            tx.execute(f"ALTER TABLE shots ADD COLUMN {schema.spelled(definition, 'sqlite')}")
