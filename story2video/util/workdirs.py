"""Scratch folders for FFmpeg and backends, all under one parent so that a killed process's are found.

Layout: ``$TMPDIR/story2video-work/<owner>/<prefix><random>/``. Each process makes one ``<owner>``
folder, after taking a flock on ``<owner>.lock`` beside it which it holds for as long as it lives;
the kernel drops that lock when the process dies, however it dies. ``sweep_stale_work_folders``
removes the owner folders whose lock is free: a live process's folders are never touched, whatever
their age, and a dead one's are removed however recent (no guessing from PIDs, which containers reuse).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from loguru import logger

from story2video.util import filelock

PARENT_NAME = "story2video-work"
LOCK_SUFFIX = ".lock"
ORPHAN_LOCK_AGE_S = 60.0  # a lock file without its folder, this old, was left by a process that died in between

_owner: tuple[int, Path, int] | None = None  # (pid, folder, lock descriptor) of this process
_owner_guard = threading.Lock()


def work_parent() -> Path:
    return Path(tempfile.gettempdir()) / PARENT_NAME


def _owner_folder() -> Path:
    """This process's owner folder: its lock is taken before the folder exists, so a sweep never sees it unlocked."""
    global _owner
    with _owner_guard:
        if _owner is not None and _owner[0] == os.getpid():
            if _owner[1].is_dir():
                return _owner[1]
            filelock.release(_owner[2])  # someone cleaned the folder away (e.g. systemd-tmpfiles): start afresh
        parent = work_parent()
        parent.mkdir(parents=True, exist_ok=True)
        fd, lock_name = tempfile.mkstemp(prefix=f"{os.getpid()}-", suffix=LOCK_SUFFIX, dir=parent)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh name: nobody else can hold it
        folder = Path(lock_name[: -len(LOCK_SUFFIX)])
        folder.mkdir()
        _owner = (os.getpid(), folder, fd)
        return folder


@contextmanager
def work_folder(prefix: str) -> Iterator[Path]:
    """A fresh scratch folder, removed with everything in it when the block ends."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=_owner_folder()))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sweep_stale_work_folders(parent: Path | None = None) -> int:
    """Remove the owner folders of processes that are gone; how many were removed."""
    parent = parent or work_parent()
    if not parent.is_dir():
        return 0
    removed = 0
    for entry in parent.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            removed += _remove_if_abandoned(entry)
        elif entry.name.endswith(LOCK_SUFFIX) and not entry.with_name(entry.name[: -len(LOCK_SUFFIX)]).exists():
            _remove_orphan_lock(entry)
    return removed


def _remove_if_abandoned(folder: Path) -> bool:
    lock = folder.with_name(folder.name + LOCK_SUFFIX)
    fd = filelock.try_lock(lock)  # a missing lock file is created: the folder has no owner either way
    if fd is None:
        return False  # its process is alive
    try:
        shutil.rmtree(folder, ignore_errors=True)
        if folder.exists():
            logger.warning("could not remove the stale work folder {}", folder)
            return False
        lock.unlink(missing_ok=True)
        return True
    finally:
        filelock.release(fd)


def _remove_orphan_lock(lock: Path) -> None:
    try:
        if time.time() - lock.stat().st_mtime < ORPHAN_LOCK_AGE_S:
            return  # its owner may be between taking the lock and making the folder
    except FileNotFoundError:
        return
    fd = filelock.try_lock(lock)
    if fd is not None:
        lock.unlink(missing_ok=True)
        filelock.release(fd)
