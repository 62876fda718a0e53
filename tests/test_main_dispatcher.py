"""The entry point: mode selection, no torch in cloud mode, and a real server process."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.serverproc import CLOSED, ROOT, ServiceProcess, free_port, service_env


def test_cloud_mode_never_imports_torch(tmp_path):
    code = (
        "import sys, main_dispatcher\n"
        "from story2video.config import Settings\n"
        "app = main_dispatcher.build_app(Settings(_env_file=None))\n"
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers', 'accelerate') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "print('ok', type(app).__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=service_env(tmp_path, LOCAL_INFERENCE="false"), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok FastAPI"


def test_unbuilt_backend_named_in_settings_stops_startup(tmp_path):
    result = subprocess.run(
        [sys.executable, "main_dispatcher.py"],
        cwd=ROOT,
        env=service_env(tmp_path, SPEECH_BACKEND="cosyvoice", SERVICE_PORT=str(free_port())),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "SPEECH_BACKEND=cosyvoice is not available" in result.stderr


@pytest.mark.parametrize("local", ["false", "true"])
def test_server_starts_and_serves_docs(tmp_path, local):
    service = ServiceProcess(tmp_path, LOCAL_INFERENCE=local, OLLAMA_URL=CLOSED, COSYVOICE_URL=CLOSED, COMFY_HOSTS=CLOSED)
    try:
        service.wait_healthy()
        docs = httpx.get(f"{service.base}/docs", timeout=5)
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        response = httpx.get(f"{service.base}/ready", timeout=30)
        ready = response.json()
        assert ready["mode"] == ("local" if local == "true" else "cloud")
        assert {b["stage"] for b in ready["backends"]} == {"storyboard", "keyframes", "clips", "narration", "script"}
        if local == "true":  # the seed's local defaults, with nothing listening there: up, but not ready
            assert response.status_code == 503 and ready["ready"] is False
            storyboard = next(b for b in ready["backends"] if b["stage"] == "storyboard")
            assert (storyboard["backend"], storyboard["location"]) == ("ollama", CLOSED)
        else:
            assert response.status_code == 200 and ready["ready"] is True
    finally:
        output = service.stop()
    assert "op=-" in output  # structured log lines carry the operation id field
    if local == "true":
        assert "starting in local GPU mode: storyboard on ollama" in output
    else:  # no key: named by what serves, not just "cloud mode"
        assert "starting in cloud mode, but every stage is on the built-in preview backends" in output
        assert "because DASHSCOPE_API_KEY is not set" in output
    assert f"open http://localhost:{service.port}/ in a browser" in output
    assert f"API docs at http://localhost:{service.port}/docs" in output
    assert "SERVICE_HOST=0.0.0.0) with no API key" in output and "Set SERVICE_HOST=127.0.0.1" in output


def test_on_loopback_with_no_key_there_is_no_network_warning(tmp_path):
    service = ServiceProcess(tmp_path, SERVICE_HOST="127.0.0.1")
    try:
        service.wait_healthy()
    finally:
        output = service.stop()
    assert f"open http://127.0.0.1:{service.port}/ in a browser" in output
    assert "no API key" not in output


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FFMPEG_BINARY": "/nonexistent/ffmpeg"}, "FFMPEG_BINARY=/nonexistent/ffmpeg is not usable"),
        ({"FONT_PATH": "/nonexistent/font.ttf"}, "FONT_PATH=/nonexistent/font.ttf is missing"),
        ({"SERVICE_PORT": "99999"}, "service_port"),
        ({"DEFAULT_MIN_SHOTS": "8", "DEFAULT_MAX_SHOTS": "5"}, "DEFAULT_MAX_SHOTS (5) must be >= DEFAULT_MIN_SHOTS (8)"),
        ({"UPLOAD_URL_HOSTS": "media.example.com,https://cdn.example.com/x"}, "UPLOAD_URL_HOSTS entry 'https://cdn.example.com/x'"),
        ({"OUTPUT_DIR": "/dev/null/out"}, "cannot lock OUTPUT_DIR: /dev/null/out/story2video.lock: Not a directory"),
    ],
)
def test_unusable_settings_stop_startup_with_a_clear_message(tmp_path, env, message):
    env = {"SERVICE_PORT": str(free_port()), **env}
    result = subprocess.run(
        [sys.executable, "main_dispatcher.py"], cwd=ROOT, env=service_env(tmp_path, **env), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
