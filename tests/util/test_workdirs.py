"""Work folders: removed after use, and a dead process's are swept while a live one's never are."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from story2video.util.workdirs import PARENT_NAME, sweep_stale_work_folders, work_folder
from tests.serverproc import ROOT

_USE = """
import os, signal, sys
from story2video.util.workdirs import work_folder
with work_folder("segment-") as folder:
    (folder / "frame.png").write_bytes(b"x" * 1000)
    print(folder, flush=True)
    if sys.argv[1] == "die":
        os.kill(os.getpid(), signal.SIGKILL)  # like the OOM killer: no clean-up runs
    sys.stdin.read()
"""


class WorkingProcess:
    """A process with a work folder under ``tmp``; ``die`` kills it while the folder is in use."""

    def __init__(self, tmp: Path, mode: str):
        env = {**os.environ, "TMPDIR": str(tmp)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", _USE, mode], cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.folder = Path(self.process.stdout.readline().strip())
        assert self.folder.is_dir()
        if mode == "die":
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=30)


@pytest.fixture
def working(tmp_path):
    started: list[WorkingProcess] = []

    def start(mode: str) -> WorkingProcess:
        started.append(WorkingProcess(tmp_path, mode))
        return started[-1]

    yield start
    for one in started:
        one.stop()


def test_a_work_folder_is_removed_after_its_block_even_when_it_fails():
    with pytest.raises(RuntimeError):
        with work_folder("join-") as folder:
            (folder / "list.txt").write_text("file 'a.mp4'\n")
            raise RuntimeError("ffmpeg failed")
    assert not folder.exists()
    assert folder.parent.parent.name == PARENT_NAME  # one known parent, one folder per process under it


def test_a_killed_process_folders_are_swept_and_a_live_process_folders_are_not(tmp_path, working):
    dead = working("die")
    live = working("live")
    assert dead.process.returncode == -9 and dead.folder.is_dir()  # what a kill used to leave in TMPDIR

    assert sweep_stale_work_folders(tmp_path / PARENT_NAME) == 1
    assert not dead.folder.parent.exists()
    assert (live.folder / "frame.png").is_file()
    assert [p.name for p in (tmp_path / PARENT_NAME).iterdir() if p.is_dir()] == [live.folder.parent.name]

    live.stop()  # it removed its own folder; its empty owner folder goes with the next sweep
    assert not live.folder.exists()
    assert sweep_stale_work_folders(tmp_path / PARENT_NAME) == 1
    assert list((tmp_path / PARENT_NAME).iterdir()) == []


def test_this_process_keeps_its_own_folder_through_a_sweep():
    with work_folder("segment-") as folder:
        sweep_stale_work_folders()
        assert folder.is_dir()
