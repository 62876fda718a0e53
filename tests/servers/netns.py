"""Separate "hosts" on one machine for tests: Linux network namespaces joined by a bridge.

``HostNetwork`` makes a bridge in the root namespace holding ``server_address`` (the first address of a
private 10.231.<n>.0/24); every ``add_host()`` is a namespace with its loopback up and one veth,
``eth0``, whose other end is on that bridge. Services the test starts in the root namespace (Redis,
PostgreSQL) listen on ``server_address`` or 0.0.0.0 to be reachable from the hosts; the root namespace
reaches a host at ``host.address``. A host's 127.0.0.1 is its own, so what the root namespace binds to
loopback is out of its reach, as on another machine. The filesystem stays shared (one OUTPUT_DIR).

The ``host_network`` fixture removes every namespace, veth and the bridge after the test, failed or
not, and skips where this cannot work: not root, no ``ip`` (iproute2), or ``ip netns add`` refused.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import pytest

SUBNET_PREFIX = "10.231"


class NetworkSetupError(RuntimeError):
    """An ``ip`` command failed; the message has the command and what it printed."""


def ip(*args: str) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise NetworkSetupError(f"`ip {' '.join(args)}` failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True, timeout=30).returncode == 0


def free_subnet() -> str:
    """A 10.231.<n> prefix no address or route of the root namespace uses yet."""
    in_use = ip("-4", "-o", "addr", "show") + ip("-4", "route", "show")
    taken = {int(n) for n in re.findall(rf"{re.escape(SUBNET_PREFIX)}\.(\d+)\.", in_use)}
    free = [n for n in range(256) if n not in taken]
    if not free:
        raise NetworkSetupError(f"every {SUBNET_PREFIX}.<n>.0/24 is in use on this machine")
    return f"{SUBNET_PREFIX}.{secrets.choice(free)}"


@dataclass
class NamespaceHost:
    """One "machine": a network namespace; ``command``/``popen``/``run`` start programs inside it."""

    name: str
    address: str
    root_link: str
    processes: list[subprocess.Popen[Any]] = field(default_factory=list)

    def command(self, args: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def popen(self, args: Sequence[str], **options: Any) -> subprocess.Popen[Any]:
        """Start ``args`` inside the namespace; it is killed when the network is torn down."""
        process = subprocess.Popen(self.command(args), **options)
        self.processes.append(process)
        return process

    def run(self, args: Sequence[str], timeout: float = 60, **options: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(args), capture_output=True, text=True, timeout=timeout, **options)

    def kill_processes(self) -> None:
        """SIGKILL what ``popen`` started, then anything else still running in the namespace (their children)."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
        for pid in ip("netns", "pids", self.name).split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:  # it exited between the listing and the kill
                continue

    def delete_root_link(self) -> None:
        # Deleted first: a deleted namespace frees its end of the veth pair only some time later.
        if link_exists(self.root_link):
            ip("link", "del", self.root_link)

    def delete_namespace(self) -> None:
        ip("netns", "del", self.name)


class HostNetwork:
    """A bridge plus any number of namespace hosts on it; ``close()`` removes all of them."""

    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)[:5]
        self.subnet = free_subnet()
        self.server_address = f"{self.subnet}.1"
        self.bridge = f"s2vb{self.tag}"
        self.hosts: list[NamespaceHost] = []
        ip("link", "add", self.bridge, "type", "bridge")
        try:
            ip("addr", "add", f"{self.server_address}/24", "dev", self.bridge)
            ip("link", "set", self.bridge, "up")
        except NetworkSetupError:
            ip("link", "del", self.bridge)
            raise

    def add_host(self) -> NamespaceHost:
        number = len(self.hosts) + 1
        if number > 253:
            raise NetworkSetupError("a /24 holds at most 253 hosts besides the bridge")
        host = NamespaceHost(
            name=f"s2v-{self.tag}-h{number}", address=f"{self.subnet}.{number + 1}", root_link=f"s2v{self.tag}h{number}"
        )
        ip("netns", "add", host.name)
        self.hosts.append(host)  # from here on close() removes it, whatever fails below
        ip("link", "add", host.root_link, "type", "veth", "peer", "name", "eth0", "netns", host.name)
        ip("link", "set", host.root_link, "master", self.bridge, "up")
        ip("-n", host.name, "addr", "add", f"{host.address}/24", "dev", "eth0")
        ip("-n", host.name, "link", "set", "eth0", "up")
        ip("-n", host.name, "link", "set", "lo", "up")
        return host

    def close(self) -> None:
        """Remove every host and the bridge; each step is tried, and the first failure is raised at the end."""
        failures: list[Exception] = []
        for host in reversed(self.hosts):
            for step in (host.kill_processes, host.delete_root_link, host.delete_namespace):
                try:
                    step()
                except (NetworkSetupError, OSError, subprocess.SubprocessError) as error:
                    failures.append(error)
        self.hosts.clear()
        try:
            if link_exists(self.bridge):
                ip("link", "del", self.bridge)
        except NetworkSetupError as error:
            failures.append(error)
        if failures:
            raise NetworkSetupError(f"cleaning up the test network failed: {failures}") from failures[0]


def host_network_unavailable() -> str | None:
    """Why this machine cannot make namespace hosts, or None where it can."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add); run the tests as root to include these"
    if shutil.which("ip") is None:
        return "the ip command is missing (Debian: apt-get install iproute2)"
    probe = f"s2v-probe-{secrets.token_hex(3)}"
    try:
        ip("netns", "add", probe)
    except NetworkSetupError as error:
        return f"cannot create network namespaces here (needs CAP_SYS_ADMIN): {error}"
    ip("netns", "del", probe)
    return None


@pytest.fixture
def host_network() -> Iterator[HostNetwork]:
    """A fresh network for one test; ``host_network.add_host()`` makes each "machine"."""
    reason = host_network_unavailable()
    if reason is not None:
        pytest.skip(reason)
    try:
        network = HostNetwork()
    except NetworkSetupError as error:
        pytest.skip(f"cannot create a bridge for namespace hosts here: {error}")
    try:
        yield network
    finally:
        network.close()
