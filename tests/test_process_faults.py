"""Faults of the real service process: a client that goes away, SIGKILL in the middle of a render, and
a second copy started on the same data while the first renders."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from story2video.util.workdirs import PARENT_NAME
from tests import mediacheck
from tests.conftest import create_body
from tests.serverproc import ROOT, ServiceProcess, free_port, service_env

RENDER = {"operation_id": "op-render", "story_id": "story-001", "user_id": "u-001"}
STORY = "/api/v1/stories/story-001?user_id=u-001"


def _post(service: ServiceProcess, path: str, body: dict, **kwargs) -> httpx.Response:
    return httpx.post(f"{service.base}{path}", json=body, timeout=kwargs.pop("timeout", 120), **kwargs)


def _get(service: ServiceProcess, path: str) -> httpx.Response:
    return httpx.get(f"{service.base}{path}", timeout=30)


def _poll(service: ServiceProcess, operation_id: str, until, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        operation = _get(service, f"/api/v1/operations/{operation_id}").json()
        if until(operation):
            return operation
        time.sleep(0.05)
    raise AssertionError(f"operation {operation_id} never reached the expected state")


def _artifacts(data: Path, kind: str) -> dict[str, float]:
    """key -> created_at of every recorded artifact of ``kind``."""
    with sqlite3.connect(data / "db.sqlite3") as db:
        return dict(db.execute("SELECT key, created_at FROM artifacts WHERE kind=?", (kind,)))


@pytest.fixture
def started():
    services: list[ServiceProcess] = []

    def start(data: Path, **env: str) -> ServiceProcess:
        service = ServiceProcess(data, **env)
        services.append(service)
        service.wait_healthy()
        return service

    yield start
    for service in services:
        service.stop()


def test_a_client_that_disconnects_does_not_cancel_the_work(tmp_path, started):
    service = started(tmp_path, DEFAULT_RESOLUTION="180", DEFAULT_FPS="12")
    assert _post(service, "/api/v1/storyboard/create", create_body()).status_code == 200
    with pytest.raises(httpx.TimeoutException):
        _post(service, "/api/v1/video/render", RENDER, timeout=0.2)  # the client gives up at once
    finished = _poll(service, "op-render", lambda op: op["status"] not in ("Queued", "Running"))
    assert finished["status"] == "Success"
    assert _get(service, finished["result"]["video_url"].replace(service.base, "")).status_code == 200


def _temp_files(data: Path) -> set[Path]:
    return set((data / "out" / "artifacts").rglob("*.tmp.*"))


def _status_on_disk(data: Path, operation_id: str) -> str:
    with sqlite3.connect(data / "db.sqlite3") as db:
        return db.execute("SELECT status FROM operations WHERE operation_id=?", (operation_id,)).fetchone()[0]


def test_a_second_copy_on_the_same_data_stops_at_once_and_the_first_render_finishes(tmp_path, started):
    slow = dict(DEFAULT_RESOLUTION="360", DEFAULT_FPS="24", SHOT_CONCURRENCY="1", COMPOSE_WORKERS="1")
    first = started(tmp_path, **slow)
    assert _post(first, "/api/v1/storyboard/create", create_body()).status_code == 200
    assert _post(first, "/api/v1/video/render", RENDER, headers={"Prefer": "respond-async"}).status_code == 202
    _poll(first, "op-render", lambda op: op["status"] == "Running" and _temp_files(tmp_path))

    for port, also in ((first.port, f"port {first.port} on 0.0.0.0 is in use"), (free_port(), "")):
        writing = _temp_files(tmp_path)
        second = subprocess.run(
            [sys.executable, "main_dispatcher.py"],
            cwd=ROOT,
            env=service_env(tmp_path, SERVICE_PORT=str(port), **slow),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 2, second.stderr
        assert f"in use by another Story2Video process (PID {first.process.pid}, serving 0.0.0.0:{first.port}" in second.stderr
        assert also in second.stderr and "Traceback" not in second.stderr
        assert _status_on_disk(tmp_path, "op-render") in ("Running", "Success")  # not failed as "interrupted"
        for temp in writing:  # each file the first copy was writing is still there, or finished and moved into place
            final = temp.with_name(temp.name.split(".tmp.")[0] + temp.suffix)
            assert temp.exists() or final.exists(), temp.name

    finished = _poll(first, "op-render", lambda op: op["status"] not in ("Queued", "Running"), timeout=300)
    assert finished["status"] == "Success", finished
    assert _get(first, finished["result"]["video_url"].replace(first.base, "")).status_code == 200


def test_sigkill_mid_render_then_restart_loses_nothing(tmp_path, started):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    slow = dict(DEFAULT_RESOLUTION="360", DEFAULT_FPS="24", SHOT_CONCURRENCY="1", COMPOSE_WORKERS="1", TMPDIR=str(tmp))
    first = started(tmp_path, **slow)
    created = _post(first, "/api/v1/storyboard/create", create_body()).json()
    assert _post(first, "/api/v1/video/render", RENDER, headers={"Prefer": "respond-async"}).status_code == 202
    _poll(first, "op-render", lambda op: any(shot.get("state") == "done" for shot in op["shots"].values()))
    first.kill()
    finished_before = _artifacts(tmp_path, "segment")
    left_behind = [p for p in (tmp / PARENT_NAME).iterdir() if p.name.startswith(f"{first.process.pid}-")]
    assert left_behind  # the killed process's FFmpeg work folder (and its lock file)
    assert 1 <= len(finished_before) < len(created["shots"])

    second = started(tmp_path, **slow)
    interrupted = _get(second, "/api/v1/operations/op-render").json()
    assert interrupted["status"] == "Failed" and interrupted["error"]["code"] == "interrupted"
    assert "again" in interrupted["error"]["message"]
    story = _get(second, STORY).json()
    assert story["video_url"] is None
    assert [s["image_url"].split("/")[-1] for s in story["shots"]] == [s["image_url"].split("/")[-1] for s in created["shots"]]
    for shot in story["shots"]:
        assert _get(second, shot["image_url"].replace(second.base, "")).headers["content-type"] == "image/png"
    assert list((tmp_path / "out" / "artifacts").rglob("*.tmp.*")) == []
    assert not any(p.exists() for p in left_behind)  # removed at start-up

    again = _post(second, "/api/v1/video/render", {**RENDER, "operation_id": "op-render-2"})
    assert again.status_code == 200, again.text
    after = _artifacts(tmp_path, "segment")
    assert {key: after[key] for key in finished_before} == finished_before  # reused as they were, not redone
    assert len(after) == len(created["shots"])
    video = _get(second, again.json()["video_url"].replace(second.base, "")).content
    assert mediacheck.streams(video).duration == pytest.approx(again.json()["duration"], abs=0.1)
