"""Imports a user's picture or audio from a URL without letting the URL reach the service's own network.

A URL import makes the service send a request on the caller's behalf, so every request is checked:

- Imports are off unless ``UPLOAD_URL_HOSTS`` lists the hosts they may fetch from: exact names
  (``media.example.com``) or ``*.example.com`` for any subdomain of example.com (not example.com
  itself). An IP literal in a URL only matches when that address is listed itself.
- Only ``http`` and ``https`` URLs, with a host and without ``user:password@``.
- The host is resolved and *every* address it resolves to must be public: loopback, private,
  link-local (cloud metadata at 169.254.169.254), shared, multicast, reserved and documentation
  addresses are refused, also when hidden inside IPv6 (``::ffff:127.0.0.1``, NAT64, 6to4).
  ``UPLOAD_URL_ALLOW_PRIVATE`` turns this check off for a trusted intranet host.
- The request goes to the address that was checked, never to a second lookup of the name, so a DNS
  answer that changes between check and connect (DNS rebinding) cannot redirect it. The ``Host``
  header and, for https, TLS SNI and certificate verification still use the real host name.
- Redirects are followed by hand, at most ``max_redirects`` of them, and each hop passes the same
  checks before anything is sent to it.
- A plain GET with no cookies, no credentials and no proxy from the environment.
- The whole import, redirects and download included, must finish within ``UPLOAD_URL_TIMEOUT_S``,
  and the body may not exceed ``MAX_UPLOAD_BYTES``; a body that grows past it is cut off there.

Refusals raise ``InvalidRequest`` (code ``url_imports_off`` or ``url_not_allowed``); a remote that
cannot be reached or answers with an error raises ``InvalidRequest`` with code ``url_fetch_failed``;
a body that is too large raises ``PayloadTooLarge``. Messages name the host but never the rest of the
URL: a query string may carry a token.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable, Iterator
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

import httpx

from story2video.errors import ConfigurationError, InvalidRequest, PayloadTooLarge

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

USER_AGENT = "story2video-import"
DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

NOT_ALLOWED = "url_not_allowed"
FETCH_FAILED = "url_fetch_failed"
IMPORTS_OFF = "url_imports_off"

_HOST_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Not global, yet ``is_global`` says they are (Python 3.11).
_ALSO_NOT_PUBLIC = (
    ipaddress.ip_network("3fff::/20"),  # IPv6 documentation, RFC 9637
    ipaddress.ip_network("fec0::/10"),  # deprecated IPv6 site-local
)


def _not_allowed(message: str) -> InvalidRequest:
    return InvalidRequest(message, param="url", code=NOT_ALLOWED)


def _fetch_failed(message: str) -> InvalidRequest:
    return InvalidRequest(message, param="url", code=FETCH_FAILED)


# --- addresses


def is_public_address(address: str) -> bool:
    """True only for a globally routable unicast address; anything unparsable is not public."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return _is_public(ip)


def _is_public(ip: IPAddress) -> bool:
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return _is_public(embedded)
    if ip.is_multicast or ip.is_reserved or any(ip in network for network in _ALSO_NOT_PUBLIC):
        return False
    return ip.is_global


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for: IPv4-mapped, IPv4-compatible, NAT64 or 6to4."""
    if ip.version == 4:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if int(ip) >> 32 == 0:  # ::a.b.c.d (IPv4-compatible); also :: and ::1, judged as 0.0.0.x
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def _address_kind(ip: IPAddress) -> str:
    ip = _embedded_ipv4(ip) or ip
    if ip.is_unspecified:
        return "an unspecified"
    if ip.is_loopback:
        return "a loopback"
    if ip.is_link_local:
        return "a link-local"
    if ip.is_multicast:
        return "a multicast"
    if ip.is_private:
        return "a private"
    return "a non-public"


def _as_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


# --- hosts and URLs


def _normalize_host(host: str) -> str:
    """Lowercase, without a trailing dot; IP literals in their canonical form."""
    host = host.strip().lower().removesuffix(".")
    ip = _as_ip(host.removeprefix("[").removesuffix("]"))
    return str(ip) if ip is not None else host


def _is_host_name(host: str) -> bool:
    return len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in host.split("."))


def _valid_entry(entry: str) -> bool:
    if _as_ip(entry) is not None:
        return True
    return _is_host_name(entry.removeprefix("*.")) if entry.startswith("*.") else _is_host_name(entry)


def _host_of(parts: SplitResult) -> str:
    """The host of a URL that ``UrlPolicy.check_url`` accepted, normalised as the allow-list is."""
    return _normalize_host(parts.hostname or "")


@dataclass(frozen=True)
class UrlPolicy:
    """Which URLs the service may send a request to. The same rules serve URL imports (the defaults) and
    webhook callbacks (``for_callbacks``); only the names in the messages differ."""

    hosts: tuple[str, ...]
    allow_private: bool = False
    purpose: str = "URL imports"  # "URL imports reach only public addresses"
    hosts_setting: str = "UPLOAD_URL_HOSTS"
    private_setting: str = "UPLOAD_URL_ALLOW_PRIVATE"
    param: str = "url"
    alternative: str = "upload the file itself"

    def __post_init__(self) -> None:
        hosts = tuple(_normalize_host(entry) for entry in self.hosts)
        for entry in hosts:
            if not _valid_entry(entry):
                raise ConfigurationError(
                    f"{self.hosts_setting} entry {entry!r} is not a host name; "
                    "write host names like 'media.example.com' or '*.example.com', without scheme, port or path"
                )
        object.__setattr__(self, "hosts", hosts)

    @classmethod
    def from_settings(cls, hosts: str, allow_private: bool) -> "UrlPolicy":
        return cls(tuple(entry for entry in hosts.split(",") if entry.strip()), allow_private)

    @classmethod
    def for_callbacks(cls, hosts: str, allow_private: bool) -> "UrlPolicy":
        """The policy of webhook callback URLs (WEBHOOK_URL_HOSTS, WEBHOOK_ALLOW_PRIVATE)."""
        return cls(
            tuple(entry for entry in hosts.split(",") if entry.strip()),
            allow_private,
            purpose="webhook callbacks",
            hosts_setting="WEBHOOK_URL_HOSTS",
            private_setting="WEBHOOK_ALLOW_PRIVATE",
            param="callback_url",
            alternative="poll the operation instead",
        )

    @property
    def enabled(self) -> bool:
        return bool(self.hosts)

    def refused(self, message: str) -> InvalidRequest:
        return InvalidRequest(message, param=self.param, code=NOT_ALLOWED)

    def allows_host(self, host: str) -> bool:
        host = _normalize_host(host)
        is_ip = _as_ip(host) is not None
        for entry in self.hosts:
            if entry.startswith("*."):
                if not is_ip and host.endswith(entry[1:]):
                    return True
            elif entry == host:
                return True
        return False

    def check_url(self, url: str) -> SplitResult:
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises ValueError for a port that is not a number in range
        except ValueError:
            raise self.refused("the URL is not valid (or has an invalid port); give an http:// or https:// URL") from None
        if parts.scheme not in DEFAULT_PORTS:
            shown = f"'{parts.scheme}:'" if parts.scheme else "a URL without a scheme"
            raise self.refused(f"only http:// and https:// URLs are accepted for {self.purpose}, not {shown}")
        if "@" in parts.netloc:
            raise self.refused(
                "URLs with a user name or password (user:password@host) are not accepted; "
                "give a URL that needs no credentials"
            )
        host = _host_of(parts)
        if not host:
            raise self.refused("the URL has no host")
        if _as_ip(host) is None and not _is_host_name(host):
            raise self.refused(f"host {host!r} is not a valid host name; write it in its ASCII (punycode) form")
        if not self.allows_host(host):
            raise self.refused(
                f"host {host!r} is not allowed for {self.purpose}; add it to the server's {self.hosts_setting} "
                f"setting, or {self.alternative}"
            )
        return parts

    def check_address(self, host: str, address: str) -> None:
        if self.allow_private or is_public_address(address):
            return
        ip = _as_ip(address)
        kind = _address_kind(ip) if ip is not None else "an unparsable"
        subject = f"host {host!r} is" if _normalize_host(host) == _normalize_host(address) else f"host {host!r} resolves to"
        raise self.refused(
            f"{subject} {kind} address, and {self.purpose} only reach public addresses; "
            f"set {self.private_setting}=true on the server if this host is a trusted intranet server"
        )

    def check_literal_address(self, url: str) -> None:
        """``check_url``, and for a URL whose host is an IP address, ``check_address`` too (no lookup needed)."""
        host = _host_of(self.check_url(url))
        if _as_ip(host) is not None:
            self.check_address(host, host)


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# --- resolving and pinning


async def checked_target(policy: UrlPolicy, resolver: Resolver, url: str) -> tuple[SplitResult, str, str]:
    """(parts, host, address) of ``url`` once it passed ``policy`` and every address its host resolves to
    is allowed: the request goes to ``address``, never to a second lookup of the name."""
    parts = policy.check_url(url)
    host = _host_of(parts)
    addresses = await _resolve(resolver, host, parts.port or DEFAULT_PORTS[parts.scheme])
    for address in addresses:
        policy.check_address(host, address)
    return parts, host, addresses[0]


async def _resolve(resolver: Resolver, host: str, port: int) -> list[str]:
    if _as_ip(host) is not None:
        return [host]
    try:
        addresses = await resolver(host, port)
    except OSError as exc:
        raise _fetch_failed(f"could not resolve host {host!r} ({type(exc).__name__})") from exc
    if not addresses:
        raise _fetch_failed(f"host {host!r} resolves to no address")
    if any(_as_ip(address) is None for address in addresses):
        raise _fetch_failed(f"the resolver answered for host {host!r} with something that is not an IP address")
    return addresses


# --- fetching


@dataclass(frozen=True)
class FetchedFile:
    url: str
    content_type: str
    size_bytes: int


@dataclass(frozen=True)
class _Hop:
    """One URL of a redirect chain, checked and pinned to one of its checked addresses."""

    url: str
    host: str
    request: httpx.Request


def pinned_request(
    parts: SplitResult, host: str, address: str, method: str = "GET", content: bytes | None = None, headers: dict[str, str] | None = None
) -> httpx.Request:
    """A request for the URL ``parts`` sent to ``address`` (checked), with the real host name in ``Host``
    and, for https, in TLS SNI and the certificate check."""
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    ip = ipaddress.ip_address(address)
    netloc = f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
    pinned_url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = f"[{host}]" if ":" in host else host
    if parts.port is not None and parts.port != DEFAULT_PORTS[parts.scheme]:
        host_header += f":{parts.port}"
    sent = {"Host": host_header, "User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity", **(headers or {})}
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return httpx.Request(method, pinned_url, headers=sent, content=content, extensions=extensions)


def _redirect_location(response: httpx.Response) -> str | None:
    if response.status_code in REDIRECT_STATUSES:
        return response.headers.get("location") or None
    return None


def _declared_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


def _host_for_message(url: str) -> str:
    try:
        return _normalize_host(urlsplit(url).hostname or "") or "?"
    except ValueError:
        return "?"


@contextmanager
def _transport_errors(host: str) -> Iterator[None]:
    """Turn httpx's exceptions into the service's, naming the host and not the URL."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise _fetch_failed(f"host {host!r} did not answer in time ({type(exc).__name__})") from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise _fetch_failed(f"could not fetch from host {host!r}: {type(exc).__name__}") from exc


class SafeFetcher:
    def __init__(
        self,
        policy: UrlPolicy,
        *,
        max_bytes: int,
        timeout_s: float,
        max_redirects: int = 3,
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.policy = policy
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.max_redirects = max_redirects
        self._resolver = resolver or system_resolver
        self._transport = transport

    async def fetch(self, url: str, dest: Path) -> FetchedFile:
        """Download ``url`` into ``dest``; on any failure ``dest`` is removed."""
        if not self.policy.enabled:
            raise InvalidRequest(
                "URL imports are off on this server; set UPLOAD_URL_HOSTS to the hosts they may fetch from, "
                "or upload the file itself",
                param="url",
                code=IMPORTS_OFF,
            )
        try:
            return await self._fetch_within_deadline(url, dest)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise

    async def _fetch_within_deadline(self, url: str, dest: Path) -> FetchedFile:
        deadline = asyncio.timeout(self.timeout_s)
        try:
            async with deadline:
                return await self._follow(url, dest)
        except TimeoutError:
            if not deadline.expired():
                raise
            raise _fetch_failed(
                f"importing from host {_host_for_message(url)!r} timed out after {self.timeout_s:g} s "
                "(UPLOAD_URL_TIMEOUT_S)"
            ) from None

    async def _follow(self, url: str, dest: Path) -> FetchedFile:
        # No keep-alive: a connection opened (and certificate-checked) for one host name must not be
        # reused for another name that resolves to the same address.
        transport = self._transport or httpx.AsyncHTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))
        async with httpx.AsyncClient(transport=transport, trust_env=False, follow_redirects=False) as client:
            hop = await self._checked_hop(url)
            redirects = 0
            while True:
                with _transport_errors(hop.host):
                    response = await client.send(hop.request, stream=True)
                    try:
                        location = _redirect_location(response)
                        if location is None:
                            return await self._save(response, hop, dest)
                    finally:
                        await response.aclose()
                redirects += 1
                if redirects > self.max_redirects:
                    raise _not_allowed(
                        f"host {hop.host!r} redirected more than {self.max_redirects} times in a row; "
                        "import the final URL directly"
                    )
                hop = await self._redirect_hop(hop, location)

    async def _redirect_hop(self, hop: _Hop, location: str) -> _Hop:
        try:
            return await self._checked_hop(urljoin(hop.url, location))
        except InvalidRequest as exc:
            if exc.code != NOT_ALLOWED:
                raise
            raise _not_allowed(f"host {hop.host!r} redirected to a refused URL: {exc.message}") from exc

    async def _checked_hop(self, url: str) -> _Hop:
        parts, host, address = await checked_target(self.policy, self._resolver, url)
        with _transport_errors(host):
            request = pinned_request(parts, host, address)
        return _Hop(url=url, host=host, request=request)

    async def _save(self, response: httpx.Response, hop: _Hop, dest: Path) -> FetchedFile:
        if not 200 <= response.status_code < 300:
            raise _fetch_failed(f"host {hop.host!r} answered HTTP {response.status_code}")
        declared = _declared_length(response)
        if declared is not None and declared > self.max_bytes:
            raise self._too_large(hop.host)
        size = 0
        with dest.open("wb") as out:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise self._too_large(hop.host)
                out.write(chunk)
        if size == 0:
            raise _fetch_failed(f"host {hop.host!r} answered with an empty file")
        return FetchedFile(url=hop.url, content_type=response.headers.get("content-type", ""), size_bytes=size)

    def _too_large(self, host: str) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"the file from host {host!r} is larger than {self.max_bytes} bytes (MAX_UPLOAD_BYTES)", param="url"
        )
