"""The data lock: one process per DATABASE_PATH and per OUTPUT_DIR, re-entrant inside a process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from story2video.errors import ConfigurationError
from story2video.storage.datalock import holder_note, lock_data
from tests.serverproc import ROOT

HOLD_SCRIPT = """
import sys, time
from pathlib import Path
from story2video.storage.datalock import holder_note, lock_data
lock = lock_data(Path(sys.argv[1]), Path(sys.argv[2]), holder_note("0.0.0.0:4242"))
print("held", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


class LockHolder:
    """Another process holding the lock of (database, output)."""

    def __init__(self, database: Path, output: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLD_SCRIPT, str(database), str(output)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout.readline().strip() == "held"

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture
def holder():
    holders: list[LockHolder] = []

    def start(database: Path, output: Path) -> LockHolder:
        holders.append(LockHolder(database, output))
        return holders[-1]

    yield start
    for one in holders:
        if one.process.poll() is None:
            one.stop()


def test_another_process_is_refused_with_its_pid_and_address(tmp_path, holder):
    other = holder(tmp_path / "db.sqlite3", tmp_path / "out")
    with pytest.raises(ConfigurationError) as refused:
        lock_data(tmp_path / "db.sqlite3", tmp_path / "out", holder_note("0.0.0.0:1"))
    message = refused.value.message
    assert f"DATABASE_PATH={tmp_path / 'db.sqlite3'} and OUTPUT_DIR={tmp_path / 'out'} are in use" in message
    assert f"PID {other.process.pid}, serving 0.0.0.0:4242" in message


@pytest.mark.parametrize("shared", ["DATABASE_PATH", "OUTPUT_DIR"])
def test_sharing_either_the_database_or_the_output_is_refused(tmp_path, holder, shared):
    holder(tmp_path / "a.sqlite3", tmp_path / "out-a")
    database = tmp_path / ("a.sqlite3" if shared == "DATABASE_PATH" else "b.sqlite3")
    output = tmp_path / ("out-a" if shared == "OUTPUT_DIR" else "out-b")
    with pytest.raises(ConfigurationError) as refused:
        lock_data(database, output, holder_note("0.0.0.0:1"))
    assert refused.value.message.startswith(f"{shared}=")
    assert "is in use by another Story2Video process" in refused.value.message


def test_the_lock_is_free_again_once_its_holder_is_gone(tmp_path, holder):
    holder(tmp_path / "db.sqlite3", tmp_path / "out").stop()
    lock_data(tmp_path / "db.sqlite3", tmp_path / "out", holder_note("0.0.0.0:1")).release()


def test_reentrant_inside_one_process_and_held_until_the_last_release(tmp_path):
    first = lock_data(tmp_path / "db.sqlite3", tmp_path / "out", holder_note("0.0.0.0:1"))
    second = lock_data(tmp_path / "db.sqlite3", tmp_path / "out", holder_note("0.0.0.0:1"))
    first.release()
    check = [sys.executable, "-c", HOLD_SCRIPT, str(tmp_path / "db.sqlite3"), str(tmp_path / "out")]
    still_held = subprocess.run(check, cwd=ROOT, input="", capture_output=True, text=True, timeout=60)
    assert still_held.returncode != 0 and "in use by another Story2Video process" in still_held.stderr
    second.release()
    free = subprocess.run(check, cwd=ROOT, input="", capture_output=True, text=True, timeout=60)
    assert free.returncode == 0, free.stderr
