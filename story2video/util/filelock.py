"""Exclusive advisory locks on files (flock): held for as long as the file descriptor stays open.

The kernel drops a flock when its holder dies, however it dies, so a lock found free means its last
holder is gone. Two descriptors of one file conflict even inside one process.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def try_lock(path: Path) -> int | None:
    """Open ``path`` (created if missing) and lock it exclusively without waiting.

    Returns the open descriptor that holds the lock, or None when another descriptor holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_note(fd: int, note: str) -> None:
    """Replace the locked file's text (who holds it), for whoever finds it locked."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, note.encode("utf-8"), 0)


def read_note(path: Path) -> str:
    """The text a holder left in ``path``; empty when there is none or it cannot be read."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def release(fd: int) -> None:
    """Give the lock up (closing the descriptor drops it)."""
    os.close(fd)
