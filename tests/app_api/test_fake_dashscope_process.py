"""The fake DashScope as a process of its own (``python -m tests.fakes.dashscope``), as a multi-process
test runs it: slow image-to-video tasks that any client may poll, and the submissions counted on
``GET /_fake/stats``."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from story2video.config import PROJECT_ROOT
from tests.fakes.dashscope import KEY

VIDEO_SECONDS = 1.0
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def fake_url() -> Iterator[str]:
    command = [sys.executable, "-m", "tests.fakes.dashscope", "--port", "0", "--video-seconds", str(VIDEO_SECONDS)]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert line.startswith("fake DashScope listening on "), f"the fake did not start: {line!r} {process.stderr.read() if process.stderr else ''}"
        yield line.split()[4]
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0  # SIGTERM is a clean stop


def video_task() -> dict:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 360), (10, 20, 30)).save(buffer, format="PNG")
    image = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    parameters = {"resolution": "480P", "duration": 5, "prompt_extend": False, "watermark": False, "seed": 1}
    return {"model": "wan2.2-i2v-flash", "input": {"prompt": "waves", "img_url": image}, "parameters": parameters}


def test_a_slow_video_task_counted_and_polled_by_another_client(fake_url):
    submit_url = f"{fake_url}/api/v1/services/aigc/video-generation/video-synthesis"
    submitted = httpx.post(submit_url, json=video_task(), headers={**AUTH, "X-DashScope-Async": "enable"}, timeout=10)
    task_id = submitted.json()["output"]["task_id"]
    started = time.monotonic()
    assert httpx.get(f"{fake_url}/_fake/stats", timeout=5).json()["submissions"] == {"video": 1}

    statuses = []
    with httpx.Client(headers=AUTH, timeout=30) as another_client:
        while not statuses or statuses[-1] in ("PENDING", "RUNNING"):
            statuses.append(another_client.get(f"{fake_url}/api/v1/tasks/{task_id}").json()["output"]["task_status"])
            if statuses[-1] in ("PENDING", "RUNNING"):
                time.sleep(0.1)
    assert statuses[-1] == "SUCCEEDED" and time.monotonic() - started >= VIDEO_SECONDS
    assert len(statuses) >= 5  # every poll within the task's second answered RUNNING
    stats = httpx.get(f"{fake_url}/_fake/stats", timeout=5).json()
    assert stats["submissions"] == {"video": 1} and stats["tasks"][task_id]["done"] is True
