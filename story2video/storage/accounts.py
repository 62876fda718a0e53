"""People's accounts, their refresh tokens (kept as SHA-256 digests only) and failed log-ins.

Everything lives in the shared database, so any API replica can log a person in, rotate their
refresh token, or count their failed attempts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from story2video.storage.db import Database


@dataclass
class AccountRecord:
    account_id: int
    username: str
    user_id: str  # the id their stories and operations are kept under
    password_hash: str
    created_at: float


@dataclass
class RefreshTokenRecord:
    token_hash: str
    account_id: int
    family_id: str  # every token rotated from one log-in shares it
    expires_at: float
    used_at: float | None


class AccountRepository:
    def __init__(self, db: Database):
        self.db = db

    # ------------------------------------------------------------ accounts

    def create(self, username: str, user_id: str, password_hash: str) -> AccountRecord:
        """A new account; ``DuplicateKey`` when the username (or user id) is taken."""
        now = time.time()
        with self.db.transaction() as tx:
            row = tx.execute(
                "INSERT INTO account_users (username, user_id, password_hash, created_at) VALUES (?, ?, ?, ?) RETURNING account_id",
                (username, user_id, password_hash, now),
            ).fetchone()
        return AccountRecord(int(row["account_id"]), username, user_id, password_hash, now)

    def by_username(self, username: str) -> AccountRecord | None:
        return _account(self.db.fetch_one("SELECT * FROM account_users WHERE username=?", (username,)))

    def by_id(self, account_id: int) -> AccountRecord | None:
        return _account(self.db.fetch_one("SELECT * FROM account_users WHERE account_id=?", (account_id,)))

    def set_password_hash(self, account_id: int, password_hash: str) -> None:
        self.db.execute("UPDATE account_users SET password_hash=? WHERE account_id=?", (password_hash, account_id))

    # ------------------------------------------------------------ refresh tokens

    def add_refresh_token(self, token_hash: str, account_id: int, family_id: str, expires_at: float) -> None:
        self.db.execute(
            "INSERT INTO account_refresh_tokens (token_hash, account_id, family_id, expires_at, used_at, created_at) VALUES (?, ?, ?, ?, NULL, ?)",
            (token_hash, account_id, family_id, expires_at, time.time()),
        )

    def use_refresh_token(self, token_hash: str) -> tuple[RefreshTokenRecord | None, bool]:
        """Mark the token used, once: (its record, whether this call was the one that used it).
        (None, False) for a token never issued or already dropped."""
        now = time.time()
        with self.db.transaction() as tx:
            row = tx.execute(
                f"SELECT * FROM account_refresh_tokens WHERE token_hash=?{self.db.for_update}", (token_hash,)
            ).fetchone()
            if row is None:
                return None, False
            record = RefreshTokenRecord(row["token_hash"], int(row["account_id"]), row["family_id"], row["expires_at"], row["used_at"])
            if record.used_at is not None:
                return record, False
            tx.execute("UPDATE account_refresh_tokens SET used_at=? WHERE token_hash=? AND used_at IS NULL", (now, token_hash))
        record.used_at = now
        return record, True

    def drop_family(self, family_id: str) -> int:
        """Forget every token of one log-in (log-out, or a rotated token presented again)."""
        return self.db.execute("DELETE FROM account_refresh_tokens WHERE family_id=?", (family_id,))

    def family_of(self, token_hash: str) -> str | None:
        row = self.db.fetch_one("SELECT family_id FROM account_refresh_tokens WHERE token_hash=?", (token_hash,))
        return None if row is None else row["family_id"]

    def prune_refresh_tokens(self, now: float) -> int:
        return self.db.execute("DELETE FROM account_refresh_tokens WHERE expires_at < ?", (now,))

    # ------------------------------------------------------------ failed log-ins

    def add_failure(self, scope: str, subject: str, at: float) -> None:
        self.db.execute("INSERT INTO account_login_failures (scope, subject, created_at) VALUES (?, ?, ?)", (scope, subject, at))

    def failures_since(self, scope: str, subject: str, since: float) -> tuple[int, float | None]:
        """(how many failures of ``subject`` since ``since``, the time of the oldest of them)."""
        row = self.db.fetch_one(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM account_login_failures WHERE scope=? AND subject=? AND created_at >= ?",
            (scope, subject, since),
        )
        return int(row["n"]), row["oldest"]

    def clear_failures(self, scope: str, subject: str) -> None:
        self.db.execute("DELETE FROM account_login_failures WHERE scope=? AND subject=?", (scope, subject))

    def prune_failures(self, before: float) -> int:
        return self.db.execute("DELETE FROM account_login_failures WHERE created_at < ?", (before,))


def _account(row) -> AccountRecord | None:
    if row is None:
        return None
    return AccountRecord(int(row["account_id"]), row["username"], row["user_id"], row["password_hash"], row["created_at"])
