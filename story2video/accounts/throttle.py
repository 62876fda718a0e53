"""Failed log-ins counted per username and per client address, in the shared database, within a window."""

from __future__ import annotations

import math
import time

from story2video.errors import RateLimited
from story2video.storage.accounts import AccountRepository

BY_USERNAME = "username"
BY_ADDRESS = "address"


class LoginThrottle:
    def __init__(self, repo: AccountRepository, *, per_username: int, per_address: int, window_s: float):
        self.repo = repo
        self.limits = {BY_USERNAME: per_username, BY_ADDRESS: per_address}
        self.window_s = window_s

    def check(self, username: str, address: str, now: float | None = None) -> None:
        """``RateLimited`` (with the seconds until the oldest counted failure leaves the window) when either
        the username or the address has failed too often."""
        now = time.time() if now is None else now
        for scope, subject in ((BY_USERNAME, username), (BY_ADDRESS, address)):
            count, oldest = self.repo.failures_since(scope, subject, now - self.window_s)
            if count >= self.limits[scope]:
                wait = max(1, math.ceil((oldest or now) + self.window_s - now))
                what = "this account" if scope == BY_USERNAME else "this address"
                raise RateLimited(f"too many failed log-ins for {what}; try again in {wait} s", retry_after=wait)

    def failed(self, username: str, address: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.repo.add_failure(BY_USERNAME, username, now)
        self.repo.add_failure(BY_ADDRESS, address, now)
        self.repo.prune_failures(now - self.window_s)

    def succeeded(self, username: str) -> None:
        """A right password clears the account's count (the address keeps its own)."""
        self.repo.clear_failures(BY_USERNAME, username)
