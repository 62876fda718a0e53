"""One service process per data: exclusive locks beside DATABASE_PATH and inside OUTPUT_DIR.

Both are locked, because two copies sharing either one would undo each other's work (the start-up
recovery fails the other copy's operations; the temp-file sweep deletes its half-written files).
The locks are re-entrant inside one process: the entry point takes them before it builds the app,
and the app's lifespan takes them again before its recovery, whichever way it was started.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from story2video.errors import ConfigurationError
from story2video.util import filelock

OUTPUT_LOCK_NAME = "story2video.lock"

_held: dict[Path, list[int]] = {}  # lock file -> [descriptor, users in this process]
_guard = threading.Lock()


def lock_files(database_path: Path, output_dir: Path) -> dict[str, Path]:
    """Setting name -> the lock file that guards what it names."""
    database_path = Path(database_path)
    return {
        "DATABASE_PATH": database_path.with_name(database_path.name + ".lock"),
        "OUTPUT_DIR": Path(output_dir) / OUTPUT_LOCK_NAME,
    }


def holder_note(address: str) -> str:
    """What a copy that finds the data locked is told about the holder."""
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    return json.dumps({"pid": os.getpid(), "address": address, "started": started})


class DataLock:
    """The data's locks, held by this process until ``release``."""

    def __init__(self, files: list[Path]):
        self.files = files
        self._released = False

    def release(self) -> None:
        with _guard:
            if self._released:
                return
            self._released = True
            for path in self.files:
                entry = _held[path]
                entry[1] -= 1
                if entry[1] == 0:
                    filelock.release(entry[0])
                    del _held[path]


def lock_data(database_path: Path, output_dir: Path, note: str) -> DataLock:
    """Lock the data for this process, or raise ConfigurationError naming the process that holds it."""
    taken: list[Path] = []
    busy: dict[str, Path] = {}
    failure: str | None = None
    with _guard:
        for setting, path in lock_files(database_path, output_dir).items():
            try:
                outcome = _take(path, note)
            except OSError as error:
                failure = f"cannot lock {setting}: {path}: {error.strerror or error}"
                break
            if outcome is None:
                busy[setting] = path
            elif outcome not in taken:  # both settings may lead to one lock file
                taken.append(outcome)
            else:
                _held[outcome][1] -= 1
    lock = DataLock(taken)
    if failure or busy:
        lock.release()
        raise ConfigurationError(failure or _in_use_message(busy, database_path, output_dir))
    return lock


def _take(path: Path, note: str) -> Path | None:
    """One more use of the lock file ``path`` by this process (its resolved path); None when another holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path = path.resolve()
    if path in _held:
        _held[path][1] += 1
        return path
    fd = filelock.try_lock(path)
    if fd is None:
        return None
    filelock.write_note(fd, note)
    _held[path] = [fd, 1]
    return path


def _in_use_message(busy: dict[str, Path], database_path: Path, output_dir: Path) -> str:
    values = {"DATABASE_PATH": database_path, "OUTPUT_DIR": output_dir}
    what = " and ".join(f"{setting}={values[setting]}" for setting in busy)
    holders = sorted({_describe_holder(filelock.read_note(path)) for path in busy.values()})
    return (
        f"{what} {'is' if len(busy) == 1 else 'are'} in use by {' and '.join(holders)}. "
        "Stop that process first, or give this copy its own DATABASE_PATH and OUTPUT_DIR"
    )


def _describe_holder(note: str) -> str:
    try:
        holder = json.loads(note)
        return f"another Story2Video process (PID {holder['pid']}, serving {holder['address']}, started {holder['started']})"
    except (ValueError, TypeError, KeyError):
        return "another Story2Video process (it has not said which yet)"
