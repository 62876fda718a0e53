"""Passwords hashed with Argon2id (argon2-cffi, its default parameters: RFC 9106's low-memory choice)."""

from __future__ import annotations

from story2video.errors import ConfigurationError


def _argon2():
    try:
        import argon2
    except ImportError as error:
        raise ConfigurationError(f"ACCOUNTS_ENABLED needs argon2-cffi ({error}): pip install -r requirements-api.txt") from error
    return argon2


class PasswordHasher:
    def __init__(self) -> None:
        argon2 = _argon2()
        self._hasher = argon2.PasswordHasher()
        self._mismatch = (argon2.exceptions.VerifyMismatchError, argon2.exceptions.InvalidHashError)
        self._dummy = self._hasher.hash("a password nobody has")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except self._mismatch:
            return False

    def verify_nobody(self, password: str) -> None:
        """As long as a real check: an unknown username takes the time a wrong password takes."""
        self.verify(self._dummy, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
