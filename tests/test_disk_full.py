"""Disk full while writing artifacts: the operation fails cleanly, earlier artifacts stay intact,
no half-written file is left, and the service keeps serving (and works again once space is freed)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import create_body

RENDER = {"operation_id": "op-render", "story_id": "story-001", "user_id": "u-001"}


@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path) -> Path:
    ballast = disk / "ballast.bin"
    with open(ballast, "wb", buffering=0) as handle:  # unbuffered: closing has nothing left to flush
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError:
            pass
    return ballast


def test_disk_full_fails_cleanly_and_the_service_keeps_serving(make_client, tmp_path, small_disk):
    client = make_client(output_dir=small_disk, database_path=tmp_path / "db" / "s.sqlite3")
    created = client.post("/api/v1/storyboard/create", json=create_body())
    assert created.status_code == 200, created.text
    ballast = _fill(small_disk)

    failed = client.post("/api/v1/video/render", json=RENDER)
    assert failed.status_code == 507, failed.text
    error = failed.json()["error"]
    assert error["code"] == "storage_full" and "disk is full" in error["message"]

    assert client.get("/health").status_code == 200
    for shot in created.json()["shots"]:
        png = client.get(shot["image_url"])
        assert png.status_code == 200 and Image.open(io.BytesIO(png.content)).size == (320, 180)
    assert list(small_disk.rglob("*.tmp.*")) == []
    story = client.get("/api/v1/stories/story-001", params={"user_id": "u-001"}).json()
    assert story["video_url"] is None

    ballast.unlink()
    again = client.post("/api/v1/video/render", json={**RENDER, "operation_id": "op-render-2"})
    assert again.status_code == 200, again.text


def test_an_upload_on_a_full_disk_fails_cleanly_and_works_once_space_is_freed(make_client, tmp_path, small_disk):
    client = make_client(output_dir=small_disk, database_path=tmp_path / "db" / "s.sqlite3")
    buffer = io.BytesIO()
    Image.effect_noise((512, 512), 64).convert("RGB").save(buffer, "PNG")  # noise: ~260 KB that does not compress
    ballast = _fill(small_disk)

    failed = client.post("/api/v1/uploads", params={"user_id": "u-001"}, content=buffer.getvalue())
    assert failed.status_code == 507, failed.text
    assert failed.json()["error"]["code"] == "storage_full"
    assert list(small_disk.rglob("*.tmp.*")) == []
    assert client.get("/api/v1/uploads", params={"user_id": "u-001"}).json() == []

    ballast.unlink()
    again = client.post("/api/v1/uploads", params={"user_id": "u-001"}, content=buffer.getvalue())
    assert again.status_code == 201, again.text
