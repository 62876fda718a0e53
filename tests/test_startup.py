"""What start-up claims and says: the port and the data, the mode by what serves, where to open it,
and a warning when it is open to the network without a key."""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import dataclass

import pytest

from story2video.config import Settings
from story2video.errors import ConfigurationError
from story2video.providers.base import Providers
from story2video.startup import claim, mode_summary, open_to_network_warning, page_addresses, role_summary
from tests.serverproc import ROOT, free_port
from tests.storage.test_datalock import HOLD_SCRIPT

KEY = "k" * 20


@dataclass
class _Backend:
    backend: str
    model: str


def _providers(**backends: str) -> Providers:
    names = {"storyboard": "preview", "image": "preview", "video": "preview", "speech": "preview", **backends}
    return Providers(**{stage: _Backend(name, f"{name}-model") for stage, name in names.items()})


def _settings(tmp_path, **values) -> Settings:
    return Settings(_env_file=None, output_dir=tmp_path / "out", database_path=tmp_path / "db.sqlite3", **values)


def test_cloud_mode_without_a_key_says_every_stage_is_preview_and_why(tmp_path):
    summary = mode_summary(_settings(tmp_path), _providers())
    assert summary.startswith("cloud mode, but every stage is on the built-in preview backends")
    assert summary.endswith("because DASHSCOPE_API_KEY is not set")


def test_a_mixed_mode_names_each_stage_backend_and_the_setting_behind_preview(tmp_path):
    settings = _settings(tmp_path, dashscope_api_key=KEY, image_backend="preview")
    summary = mode_summary(settings, _providers(storyboard="dashscope", video="dashscope", speech="dashscope"))
    assert summary == (
        "cloud mode: storyboard on dashscope (dashscope-model), clips on dashscope (dashscope-model), "
        "narration on dashscope (dashscope-model); keyframes on the built-in preview backend because IMAGE_BACKEND=preview"
    )


def test_local_mode_with_every_backend_real_is_named_plainly(tmp_path):
    providers = _providers(storyboard="ollama", image="comfyui", video="comfyui", speech="cosyvoice")
    summary = mode_summary(_settings(tmp_path, local_inference=True), providers)
    assert summary.startswith("local GPU mode: storyboard on ollama (ollama-model), keyframes on comfyui")
    assert "preview" not in summary


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", ["http://127.0.0.1:8000/"]),
        ("::1", ["http://[::1]:8000/"]),
        ("video.example.com", ["http://video.example.com:8000/"]),
    ],
)
def test_the_page_address_is_where_the_service_listens(host, expected):
    assert page_addresses(host, 8000) == expected


def test_on_all_interfaces_the_page_is_on_localhost_first():
    addresses = page_addresses("0.0.0.0", 8000)
    assert addresses[0] == "http://localhost:8000/"
    assert all(address.startswith("http://") and address.endswith(":8000/") for address in addresses)


@pytest.mark.parametrize(
    ("host", "keys", "warned"),
    [
        ("0.0.0.0", "", True),
        ("::", "", True),
        ("192.168.1.20", "", True),
        ("0.0.0.0", KEY, False),
        ("127.0.0.1", "", False),
        ("localhost", "", False),
        ("::1", "", False),
    ],
)
def test_open_to_the_network_without_a_key_is_warned_about(tmp_path, host, keys, warned):
    warning = open_to_network_warning(_settings(tmp_path, service_host=host, api_keys=keys))
    assert (warning is not None) == warned
    if warned:
        assert "SERVICE_HOST=127.0.0.1" in warning and "API_KEYS" in warning and f"SERVICE_HOST={host}" in warning


def test_a_taken_port_stops_the_claim_and_leaves_the_data_unlocked(tmp_path):
    settings = _settings(tmp_path, service_host="127.0.0.1", service_port=free_port())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", settings.service_port))
        taken.listen()
        with pytest.raises(ConfigurationError) as refused:
            claim(settings)
    assert refused.value.message == (
        f"port {settings.service_port} on 127.0.0.1 is in use by another program (or another copy of this service): "
        "stop it, or set SERVICE_PORT to a free port"
    )
    other = subprocess.run(
        [sys.executable, "-c", HOLD_SCRIPT, str(settings.database_path), str(settings.output_dir)], cwd=ROOT, input="", capture_output=True, text=True, timeout=60
    )
    assert other.returncode == 0, other.stderr  # another process can lock the data: the refused claim kept nothing


def test_a_claim_listens_on_the_port_it_names(tmp_path):
    settings = _settings(tmp_path, service_host="127.0.0.1", service_port=free_port())
    lock, listener = claim(settings)
    try:
        assert listener.getsockname() == ("127.0.0.1", settings.service_port)
        with socket.create_connection(("127.0.0.1", settings.service_port), timeout=5):
            pass  # it accepts connections (queued until uvicorn serves them)
    finally:
        listener.close()
        lock.release()


def test_each_role_says_what_it_is_without_the_brokers_password(tmp_path) -> None:
    broker = {"celery_broker_url": "redis://:s3cret@queue.internal:6380/2"}
    assert "single process" in role_summary(_settings(tmp_path), "db.sqlite3")
    api = role_summary(_settings(tmp_path, service_role="api", **broker), "pg.internal:5432/story2video")
    worker = role_summary(_settings(tmp_path, service_role="worker", worker_queues="story2video.gpu", **broker), "pg")
    assert "API replica" in api and "redis://queue.internal:6380/2" in api and "s3cret" not in api
    assert "worker" in worker and "story2video.gpu" in worker and "s3cret" not in worker
