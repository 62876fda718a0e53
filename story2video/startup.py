"""What the service claims and says when it starts: its port and data, the mode it really serves in,
where to open it, and whether it is open to the network without a key."""

from __future__ import annotations

import errno
import ipaddress
import socket
from urllib.parse import urlsplit

from story2video.api.auth import parse_api_keys
from story2video.config import Settings
from story2video.errors import ConfigurationError
from story2video.providers.base import Providers
from story2video.storage.datalock import DataLock, holder_note, lock_data

ALL_INTERFACES = ("0.0.0.0", "::", "")
_STAGE_SETTINGS = {"storyboard": "storyboard_backend", "keyframes": "image_backend", "clips": "video_backend", "narration": "speech_backend", "script": "script_backend"}
_BACKLOG = 2048  # uvicorn's default


def claim(settings: Settings) -> tuple[DataLock | None, socket.socket]:
    """Lock the data (a single process owns it; API replicas share it and lock nothing) and bind the
    port, before anything reads or repairs the data.

    Raises ConfigurationError naming every one of the two that is taken, and by whom when known."""
    problems: list[str] = []
    lock = listener = None
    try:
        if settings.service_role == "all":
            lock = lock_data(settings.database_path, settings.output_dir, holder_note(f"{settings.service_host}:{settings.service_port}"))
    except ConfigurationError as error:
        problems.append(error.message)
    try:
        listener = bind_listener(settings.service_host, settings.service_port)
    except ConfigurationError as error:
        problems.append(error.message)
    if problems:
        if lock is not None:
            lock.release()
        if listener is not None:
            listener.close()
        raise ConfigurationError("\n".join(problems))
    return lock, listener


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening socket on SERVICE_HOST:SERVICE_PORT (the family chosen as uvicorn chooses it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart at once over TIME_WAIT connections
        sock.bind((host, port))
        sock.listen(_BACKLOG)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise ConfigurationError(
                f"port {port} on {host or '*'} is in use by another program (or another copy of this service): "
                "stop it, or set SERVICE_PORT to a free port"
            ) from None
        raise ConfigurationError(f"cannot listen on {host}:{port} (SERVICE_HOST, SERVICE_PORT): {error.strerror or error}") from None
    return sock


def mode_summary(settings: Settings, providers: Providers) -> str:
    """The mode named by what actually serves each stage."""
    mode = "local GPU mode" if settings.local_inference else "cloud mode"
    stages = {name: provider for name, provider in providers.by_stage().items() if name in _STAGE_SETTINGS}
    preview = [name for name, provider in stages.items() if provider.backend == "preview"]
    real = [f"{name} on {provider.backend} ({provider.model})" for name, provider in stages.items() if provider.backend != "preview"]
    if not preview:
        return f"{mode}: {', '.join(real)}"
    because = _why_preview(settings, preview)
    if not real:
        return (
            f"{mode}, but every stage is on the built-in preview backends (rule-based storyboard, title-card keyframes, "
            f"pan/zoom clips, offline speech) because {because}"
        )
    return f"{mode}: {', '.join(real)}; {', '.join(preview)} on the built-in preview backend because {because}"


def role_summary(settings: Settings, database: str) -> str:
    """Which part of a cluster this process is, and the shared services it uses (never a password)."""
    if settings.service_role == "all":
        return f"a single process (SERVICE_ROLE=all; database {database})"
    broker = urlsplit(settings.celery_broker_url)
    queue = f"{broker.scheme}://{broker.hostname}:{broker.port or 6379}{broker.path}"
    if settings.service_role == "api":
        return f"an API replica (SERVICE_ROLE=api; database {database}; work queue {queue})"
    return (
        f"a worker (SERVICE_ROLE=worker; queues {', '.join(settings.worker_queue_list)}, {settings.worker_concurrency} task threads; "
        f"database {database}; work queue {queue})"
    )


def _why_preview(settings: Settings, stages: list[str]) -> str:
    reasons = [f"{_STAGE_SETTINGS[stage].upper()}=preview" for stage in stages if getattr(settings, _STAGE_SETTINGS[stage]) == "preview"]
    fell_back = [stage for stage in stages if getattr(settings, _STAGE_SETTINGS[stage]) != "preview"]
    if fell_back and settings.local_inference:
        reasons.append(f"no local backend is configured for {', '.join(fell_back)}")
    elif fell_back:
        reasons.append("DASHSCOPE_API_KEY is not set")
    return " and ".join(reasons)


def page_addresses(host: str, port: int) -> list[str]:
    """Where a browser reaches the page: this machine's address first, then the network's when bound to all."""
    if host in ALL_INTERFACES:
        lan = _network_address()
        return [f"http://localhost:{port}/"] + ([f"http://{lan}:{port}/"] if lan else [])
    return [f"http://{_url_host(host)}:{port}/"]


def open_to_network_warning(settings: Settings) -> str | None:
    """A warning when anyone on the network could use the service without a key; None when not."""
    if parse_api_keys(settings.api_keys) or settings.accounts_enabled or _is_loopback(settings.service_host):
        return None
    where = "every network interface" if settings.service_host in ALL_INTERFACES else settings.service_host
    return (
        f"listening on {where} (SERVICE_HOST={settings.service_host}) with no API key (API_KEYS is empty): anyone who can "
        f"reach this machine on port {settings.service_port} can run work and read every story. Set SERVICE_HOST=127.0.0.1 "
        "to keep it to this machine, or set API_KEYS (docs/configuration.md)"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: assume others can reach it


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _network_address() -> str | None:
    """This machine's address on its default route; connecting a UDP socket sends nothing."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only the route is looked up
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if ipaddress.ip_address(address).is_loopback or address == "0.0.0.0" else address
