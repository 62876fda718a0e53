"""The app's lifespan: the data is locked before any repair, stale work folders go, retention runs."""

from __future__ import annotations

import os
import tempfile
import time

import pytest
from fastapi.testclient import TestClient

from app_api import build_providers
from story2video.app import create_app
from story2video.errors import ConfigurationError
from story2video.storage.db import Database
from story2video.storage.operations import OperationRepository
from story2video.storage.records import OperationRecord
from story2video.util.workdirs import PARENT_NAME
from tests.conftest import small_settings
from tests.storage.test_datalock import LockHolder
from tests.util.test_workdirs import WorkingProcess


def test_startup_removes_a_killed_process_work_folders_but_not_a_live_one(tmp_path, monkeypatch, make_client):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    dead, live = WorkingProcess(tmp, "die"), WorkingProcess(tmp, "live")
    try:
        monkeypatch.setattr(tempfile, "tempdir", str(tmp))
        make_client()
        assert not dead.folder.parent.exists()
        assert (live.folder / "frame.png").is_file()
    finally:
        live.stop()
    assert [p.name for p in (tmp / PARENT_NAME).iterdir() if p.is_dir()] == [live.folder.parent.name]


def test_a_copy_started_on_data_another_process_holds_repairs_nothing(tmp_path):
    settings = small_settings(tmp_path)
    db = Database(settings.database_path)
    OperationRepository(db).insert(
        OperationRecord("op-1", "render", "u-1", "s-1", "h", {}, "Running", "shots", 0.5, {"shot_01": {"state": "working"}})
    )
    temp = settings.artifacts_dir / "ab" / f"{'ab' * 32}.tmp.12345678.mp4"
    temp.parent.mkdir(parents=True)
    temp.write_bytes(b"being written by the other copy")
    holder = LockHolder(settings.database_path, settings.output_dir)
    try:
        app = create_app(settings, build_providers(settings))
        with pytest.raises(ConfigurationError, match=f"PID {holder.process.pid}"):
            with TestClient(app):
                pass
    finally:
        holder.stop()
    assert db.fetch_one("SELECT status FROM operations")["status"] == "Running"
    assert temp.read_bytes() == b"being written by the other copy"


def test_retention_runs_at_startup(tmp_path, make_client):
    stale = small_settings(tmp_path).artifacts_dir / "cd" / f"{'cd' * 32}.png"  # a file whose record a crash removed, long ago
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"x")
    old = time.time() - 100 * 86400
    os.utime(stale, (old, old))

    make_client()
    deadline = time.monotonic() + 30
    while stale.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not stale.exists()
