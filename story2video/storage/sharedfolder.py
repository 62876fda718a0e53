"""Every host must see the same OUTPUT_DIR. The first process ever to start on a database writes a
random marker into both; every later one checks that its folder holds the database's marker, and
refuses to start on one that does not: an unmounted share is an empty folder, and a host working in
it would find every file gone."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from story2video.errors import ConfigurationError
from story2video.storage.db import Database

MARKER_FILE = ".story2video-share"
FIRST_START_GRACE_S = 5.0  # a process starting alongside the first one waits this long for its marker file


def check_shared_folder(db: Database, output_dir: Path) -> str:
    """The marker of the folder every process shares, once ``output_dir`` is found to be that folder."""
    path = output_dir / MARKER_FILE
    candidate = secrets.token_hex(16)
    with db.transaction() as tx:  # the marker is kept only once the folder has it too
        inserted = tx.execute("INSERT INTO shared_folder (slot, marker) VALUES (1, ?) ON CONFLICT (slot) DO NOTHING", (candidate,))
        if inserted.rowcount == 1:
            if _read(path) is not None:
                raise ConfigurationError(
                    f"OUTPUT_DIR {output_dir} belongs to another installation (its {MARKER_FILE} names another database); "
                    f"use an OUTPUT_DIR of its own for the database at {db.location}, or delete {path} to take the folder over"
                )
            _write(path, candidate)
            return candidate
    expected = db.fetch_one("SELECT marker FROM shared_folder WHERE slot=1")["marker"]
    found = _read(path)
    deadline = time.monotonic() + FIRST_START_GRACE_S
    while found is None and time.monotonic() < deadline:
        time.sleep(0.2)
        found = _read(path)
    if found != expected:
        what = f"has no {MARKER_FILE}" if found is None else f"has a {MARKER_FILE} of another installation"
        raise ConfigurationError(
            f"OUTPUT_DIR {output_dir} {what}: it is not the folder the other processes on the database at {db.location} use. "
            "Mount the shared folder there (every host needs the same one). If you emptied it on purpose, "
            f"write {expected} into {path}"
        )
    return expected


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def _write(path: Path, marker: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temp.write_text(marker + "\n")
    os.replace(temp, path)
