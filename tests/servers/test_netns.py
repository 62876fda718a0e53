"""Namespace hosts reach the root namespace's bridge address, not its loopback, and leave nothing behind."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers import netns
from tests.servers.netns import HostNetwork, host_network, host_network_unavailable, ip, link_exists  # noqa: F401
from tests.servers.redis import start_redis

# Speaks Redis by hand (RESP inline PING) so the check needs nothing but Python inside the namespace.
PING_SCRIPT = """
import socket, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as connection:
    connection.sendall(b"PING\\r\\n")
    print(connection.recv(64).decode().strip())
"""

SERVE_ONCE_SCRIPT = """
import socket
with socket.create_server(("0.0.0.0", 7700)) as server:
    connection, _ = server.accept()
    with connection:
        connection.sendall(b"hello from the host")
"""

RECEIVE_SCRIPT = """
import socket, sys, time
deadline = time.monotonic() + 20
while True:
    try:
        connection = socket.create_connection((sys.argv[1], 7700), timeout=5)
        break
    except ConnectionRefusedError:  # the server is not listening yet
        if time.monotonic() > deadline:
            raise
        time.sleep(0.05)
with connection:
    print(connection.recv(64).decode())
"""


def stdout_of(finished: subprocess.CompletedProcess[str]) -> str:
    assert finished.returncode == 0, finished.stderr
    return finished.stdout.strip()


def test_a_host_reaches_redis_on_the_bridge_address(host_network: HostNetwork, tmp_path: Path) -> None:
    redis = start_redis(tmp_path, bind=host_network.server_address)
    try:
        host = host_network.add_host()
        answer = host.run([sys.executable, "-c", PING_SCRIPT, host_network.server_address, str(redis.port)])
        assert stdout_of(answer) == "+PONG"
    finally:
        redis.kill()


def test_a_host_cannot_reach_the_root_namespaces_loopback(host_network: HostNetwork, tmp_path: Path) -> None:
    redis = start_redis(tmp_path, bind="127.0.0.1")
    try:
        with socket.create_connection(("127.0.0.1", redis.port), timeout=5):
            pass  # reachable from the root namespace itself
        host = host_network.add_host()
        attempt = host.run([sys.executable, "-c", PING_SCRIPT, "127.0.0.1", str(redis.port)])
        assert attempt.returncode != 0
        assert "ConnectionRefusedError" in attempt.stderr
    finally:
        redis.kill()


def test_the_root_namespace_and_other_hosts_reach_a_host_at_its_address(host_network: HostNetwork) -> None:
    first, second = host_network.add_host(), host_network.add_host()
    assert first.address != second.address
    for client_command in ([], second.command([])):
        first.popen([sys.executable, "-c", SERVE_ONCE_SCRIPT])
        reply = subprocess.run(
            [*client_command, sys.executable, "-c", RECEIVE_SCRIPT, first.address],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert stdout_of(reply) == "hello from the host"


def test_close_removes_namespaces_links_and_processes() -> None:
    reason = host_network_unavailable()
    if reason is not None:
        pytest.skip(reason)
    network = HostNetwork()
    host = network.add_host()
    sleeper = host.popen(["sleep", "600"])
    network.close()

    assert sleeper.wait(timeout=10) != 0
    assert host.name not in ip("netns", "list")
    deadline = time.monotonic() + 10
    while link_exists(host.root_link) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not link_exists(host.root_link)
    assert not link_exists(network.bridge)


def test_without_root_or_iproute2_the_reason_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    assert "need root" in (host_network_unavailable() or "")
    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns.shutil, "which", lambda name: None)
    assert "apt-get install iproute2" in (host_network_unavailable() or "")
