"""Register, log in, refresh (rotating the refresh token), log out, and read an access token.

A person's stories are kept under their account's ``user_id`` (``acct-`` and random hex), chosen at
registration: never their username, so registering can never claim data someone made earlier under
an id that happens to match it. A refresh token is used once; one presented again (stolen and used
by two parties) ends that whole log-in.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass

from loguru import logger

from story2video.accounts.passwords import PasswordHasher
from story2video.accounts.throttle import LoginThrottle
from story2video.accounts.tokens import AccessClaims, AccessTokens, digest, new_refresh_token
from story2video.config import Settings
from story2video.errors import Conflict, InvalidRequest, Unauthorized
from story2video.storage.accounts import AccountRecord, AccountRepository
from story2video.storage.db import DuplicateKey

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
MAX_PASSWORD_CHARS = 256


@dataclass(frozen=True)
class Session:
    """What a log-in or a refresh hands out: the access token (JSON body) and the refresh token (cookie)."""

    account: AccountRecord
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


class AccountService:
    def __init__(self, repo: AccountRepository, settings: Settings):
        self.repo = repo
        self.hasher = PasswordHasher()
        self.tokens = AccessTokens(settings.account_token_secret, settings.access_token_ttl_s)
        self.refresh_ttl_s = settings.refresh_token_ttl_s
        self.min_password_chars = settings.min_password_chars
        self.throttle = LoginThrottle(
            repo, per_username=settings.login_max_failures, per_address=settings.login_max_failures_per_address, window_s=settings.login_window_s
        )

    def register(self, username: str, password: str) -> AccountRecord:
        username = username.strip()
        if not USERNAME_PATTERN.fullmatch(username):
            raise InvalidRequest("username: 3 to 64 letters, digits or . _ - @", param="username")
        if not self.min_password_chars <= len(password) <= MAX_PASSWORD_CHARS:
            raise InvalidRequest(f"password: {self.min_password_chars} to {MAX_PASSWORD_CHARS} characters", param="password")
        try:
            account = self.repo.create(username, f"acct-{secrets.token_hex(8)}", self.hasher.hash(password))
        except DuplicateKey:
            raise Conflict(f"the username '{username}' is taken", code="username_taken") from None
        logger.info("account {} registered (user_id {})", account.account_id, account.user_id)
        return account

    def log_in(self, username: str, password: str, address: str) -> Session:
        username = username.strip()
        self.throttle.check(username, address)
        account = self.repo.by_username(username)
        if account is None:
            self.hasher.verify_nobody(password)
        if account is None or not self.hasher.verify(account.password_hash, password):
            self.throttle.failed(username, address)
            logger.info("failed log-in for a username from {}", address)
            raise Unauthorized("the username or password is wrong")
        self.throttle.succeeded(username)
        if self.hasher.needs_rehash(account.password_hash):
            self.repo.set_password_hash(account.account_id, self.hasher.hash(password))
        return self._session(account, family_id=secrets.token_hex(16))

    def refresh(self, refresh_token: str | None) -> Session:
        """A new access token and a new refresh token; the one presented is used up."""
        if not refresh_token:
            raise Unauthorized("no refresh token: log in (POST /api/v1/auth/login)")
        record, first_use = self.repo.use_refresh_token(digest(refresh_token))
        if record is None:
            raise Unauthorized("the refresh token is not valid: log in again")
        if not first_use:
            self.repo.drop_family(record.family_id)
            logger.warning("a refresh token of account {} was used twice; that log-in is ended", record.account_id)
            raise Unauthorized("the refresh token was already used: log in again")
        if record.expires_at < time.time():
            raise Unauthorized("the refresh token has expired: log in again")
        account = self.repo.by_id(record.account_id)
        if account is None:
            raise Unauthorized("the account no longer exists")
        return self._session(account, family_id=record.family_id)

    def log_out(self, refresh_token: str | None) -> None:
        """End the log-in the refresh token belongs to (every token rotated from it)."""
        if not refresh_token:
            return
        family = self.repo.family_of(digest(refresh_token))
        if family is not None:
            self.repo.drop_family(family)

    def authenticate(self, access_token: str) -> AccessClaims:
        return self.tokens.verify(access_token)

    def account(self, account_id: int) -> AccountRecord:
        account = self.repo.by_id(account_id)
        if account is None:
            raise Unauthorized("the account no longer exists")
        return account

    def _session(self, account: AccountRecord, family_id: str) -> Session:
        access, expires_in = self.tokens.issue(account.account_id, account.user_id, account.username)
        refresh = new_refresh_token()
        now = time.time()
        self.repo.add_refresh_token(digest(refresh), account.account_id, family_id, now + self.refresh_ttl_s)
        self.repo.prune_refresh_tokens(now)
        return Session(account, access, expires_in, refresh, self.refresh_ttl_s)
