"""An operation's identity: ``operation_id`` is chosen by the client, so it is unique per user only."""

from __future__ import annotations

from typing import NamedTuple


class OperationKey(NamedTuple):
    user_id: str
    operation_id: str

    def __str__(self) -> str:
        # Both parts match ID_PATTERN (no "/"), so this text names one operation unambiguously.
        return f"{self.user_id}/{self.operation_id}"
