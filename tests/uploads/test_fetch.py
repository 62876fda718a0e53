"""URL imports: the allow-list, the address check, DNS pinning, redirects, size limits and failures.

Real-network tests use pytest-httpserver on 127.0.0.1 (so they need ``allow_private=True`` to be
fetched at all); where a public address must be simulated, an ``httpx.MockTransport`` and a fake
resolver stand in for the network.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import AsyncIterator, Callable

import httpx
import pytest
from werkzeug import Request, Response

from story2video.errors import ConfigurationError, InvalidRequest, PayloadTooLarge
from story2video.uploads.fetch import (
    FetchedFile,
    SafeFetcher,
    UrlPolicy,
    is_public_address,
    system_resolver,
)

PUBLIC_IP = "93.184.216.34"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def fetcher(
    hosts: tuple[str, ...],
    *,
    allow_private: bool = False,
    max_bytes: int = 1 << 20,
    timeout_s: float = 10.0,
    max_redirects: int = 3,
    resolver=None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> SafeFetcher:
    return SafeFetcher(
        UrlPolicy(hosts, allow_private=allow_private),
        max_bytes=max_bytes,
        timeout_s=timeout_s,
        max_redirects=max_redirects,
        resolver=resolver,
        transport=transport,
    )


def fetch(safe: SafeFetcher, url: str, dest: Path) -> FetchedFile:
    return asyncio.run(safe.fetch(url, dest))


def refused(safe: SafeFetcher, url: str, dest: Path, error=InvalidRequest) -> InvalidRequest:
    """Fetch, expecting ``error``; checks what every failure must guarantee."""
    with pytest.raises(error) as caught:
        fetch(safe, url, dest)
    assert caught.value.param == "url"
    assert not dest.exists()
    return caught.value


def table_resolver(table: dict[str, list[str]]):
    asked: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return table[host]

    resolve.asked = asked
    return resolve


class Recorder:
    """A MockTransport handler that records requests and answers from a dict keyed by URL path."""

    def __init__(self, answers: dict[str, Callable[[httpx.Request], httpx.Response]]):
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers[request.url.path](request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def redirect_to(location: str, status: int = 302) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, headers={"Location": location})


def serve(body: bytes, content_type: str = "image/png") -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(200, content=body, headers={"Content-Type": content_type})


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "import.part"


def loopback_url(httpserver, path: str) -> str:
    return f"http://127.0.0.1:{httpserver.port}{path}"


# --- the policy


def test_from_settings_splits_trims_and_lowercases():
    policy = UrlPolicy.from_settings(" Media.Example.com , *.CDN.example.com. ,, 127.0.0.1 ,[::1]", False)
    assert policy.hosts == ("media.example.com", "*.cdn.example.com", "127.0.0.1", "::1")
    assert policy.enabled and not policy.allow_private
    assert UrlPolicy.from_settings(" , ", True).enabled is False
    assert UrlPolicy.from_settings("", False).enabled is False


@pytest.mark.parametrize("entry", ["*", "http://media.example.com", "media.example.com:8080", "media.example.com/x"])
def test_from_settings_rejects_entries_that_are_not_host_names(entry):
    with pytest.raises(ConfigurationError, match="UPLOAD_URL_HOSTS"):
        UrlPolicy.from_settings(f"ok.example.com,{entry}", False)


@pytest.mark.parametrize(
    "url, allowed",
    [
        ("https://a.example.com/x.png", True),
        ("https://b.a.example.com/x.png", True),
        ("https://A.Example.COM./x.png", True),
        ("https://example.com/x.png", False),
        ("https://badexample.com/x.png", False),
        ("https://a.example.com.evil.test/x.png", False),
        ("https://media.other.test/x.png", True),
        ("https://MEDIA.other.test./x.png", True),
        ("https://x.media.other.test/x.png", False),
        ("https://media.other.test.evil.test/x.png", False),
        ("https://93.184.216.34/x.png", True),
        ("https://93.184.216.35/x.png", False),
        ("https://[2606:4700:4700:0:0:0:0:1111]/x.png", True),
    ],
)
def test_check_url_allow_list(url, allowed):
    policy = UrlPolicy(("*.example.com", "media.other.test", "93.184.216.34", "2606:4700:4700::1111"))
    if allowed:
        assert policy.check_url(url).scheme == "https"
    else:
        with pytest.raises(InvalidRequest) as caught:
            policy.check_url(url)
        assert caught.value.code == "url_not_allowed"
        assert "UPLOAD_URL_HOSTS" in caught.value.message


def test_wildcard_does_not_match_ip_literals():
    policy = UrlPolicy(("*.0.0.1", "*.example.com"))
    for url in ("http://127.0.0.1/", "http://[::1]/"):
        with pytest.raises(InvalidRequest, match="UPLOAD_URL_HOSTS"):
            policy.check_url(url)


@pytest.mark.parametrize(
    "url, says",
    [
        ("file:///etc/passwd", "http"),
        ("ftp://a.example.com/x.png", "http"),
        ("gopher://a.example.com:70/_x", "http"),
        ("a.example.com/x.png", "http"),
        ("http://user:pw@a.example.com/x.png", "password"),
        ("http://user@a.example.com/x.png", "password"),
        ("http://evil.test\\@a.example.com/x.png", "password"),
        ("http:///x.png", "no host"),
        ("http://a.example.com:99999/x.png", "port"),
        ("http://a.example.com:http/x.png", "port"),
        ("http://%61.example.com/x.png", "not a valid host name"),
        ("http://bücher.example.com/x.png", "punycode"),
    ],
)
def test_check_url_refuses_schemes_credentials_and_odd_hosts(url, says):
    with pytest.raises(InvalidRequest) as caught:
        UrlPolicy(("*.example.com",)).check_url(url)
    assert caught.value.code == "url_not_allowed" and caught.value.param == "url"
    assert says in caught.value.message
    assert "pw" not in caught.value.message


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "::",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "fd12:3456::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::1",
        "224.0.0.1",
        "ff02::1",
        "192.0.2.1",
        "198.51.100.7",
        "203.0.113.9",
        "2001:db8::1",
        "3fff::1",
        "fec0::1",
        "240.0.0.1",
        "255.255.255.255",
        "not an address",
        "",
    ],
)
def test_is_public_address_refuses_non_global(address):
    assert is_public_address(address) is False


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", PUBLIC_IP, "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_is_public_address_accepts_global(address):
    assert is_public_address(address) is True


def test_check_address_names_the_kind_and_the_setting():
    policy = UrlPolicy(("media.example.com",))
    with pytest.raises(InvalidRequest) as caught:
        policy.check_address("media.example.com", "169.254.169.254")
    assert caught.value.code == "url_not_allowed"
    assert "link-local" in caught.value.message and "UPLOAD_URL_ALLOW_PRIVATE" in caught.value.message
    policy.check_address("media.example.com", PUBLIC_IP)
    UrlPolicy(("media.example.com",), allow_private=True).check_address("media.example.com", "169.254.169.254")


def test_system_resolver_keeps_order_and_drops_duplicates():
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()

        async def getaddrinfo(host, port, **kwargs):
            assert (host, port) == ("media.example.com", 443)
            stream, tcp = socket.SOCK_STREAM, socket.IPPROTO_TCP
            return [
                (socket.AF_INET6, stream, tcp, "", ("2606:4700:4700::1111", port, 0, 0)),
                (socket.AF_INET, stream, tcp, "", (PUBLIC_IP, port)),
                (socket.AF_INET6, stream, tcp, "", ("2606:4700:4700::1111", port, 0, 0)),
            ]

        loop.getaddrinfo = getaddrinfo
        return await system_resolver("media.example.com", 443)

    assert asyncio.run(main()) == ["2606:4700:4700::1111", PUBLIC_IP]
    assert asyncio.run(system_resolver("127.0.0.1", 80)) == ["127.0.0.1"]


# --- refusals before anything is sent


def test_imports_off_without_hosts(httpserver, dest):
    error = refused(fetcher(()), loopback_url(httpserver, "/pic.png"), dest)
    assert error.code == "url_imports_off" and "UPLOAD_URL_HOSTS" in error.message
    assert httpserver.log == []


def test_host_not_in_allow_list_sends_nothing(httpserver, dest):
    httpserver.expect_request("/pic.png").respond_with_data(PNG)
    error = refused(fetcher(("media.example.com",), allow_private=True), loopback_url(httpserver, "/pic.png"), dest)
    assert error.code == "url_not_allowed" and "'127.0.0.1'" in error.message and "UPLOAD_URL_HOSTS" in error.message
    assert httpserver.log == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_refused_without_allow_private(httpserver, dest, host):
    httpserver.expect_request("/pic.png").respond_with_data(PNG)
    error = refused(fetcher((host,)), f"http://{host}:{httpserver.port}/pic.png", dest)
    assert error.code == "url_not_allowed"
    assert "loopback" in error.message and "UPLOAD_URL_ALLOW_PRIVATE" in error.message
    assert httpserver.log == []


def test_mixed_dns_answer_is_refused(dest):
    recorder = Recorder({"/pic.png": serve(PNG)})
    resolver = table_resolver({"cdn.example.com": [PUBLIC_IP, "10.0.0.7"]})
    safe = fetcher(("cdn.example.com",), resolver=resolver, transport=recorder.transport())
    error = refused(safe, "https://cdn.example.com/pic.png", dest)
    assert error.code == "url_not_allowed" and "private" in error.message
    assert recorder.requests == []


def test_dns_failures_are_fetch_failures(dest):
    async def broken(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def empty(host: str, port: int) -> list[str]:
        return []

    for resolver in (broken, empty):
        error = refused(fetcher(("cdn.example.com",), resolver=resolver), "https://cdn.example.com/pic.png", dest)
        assert error.code == "url_fetch_failed" and "cdn.example.com" in error.message


# --- fetching from the real loopback server


def test_loopback_fetch_with_allow_private(httpserver, dest):
    httpserver.expect_request("/pic.png").respond_with_data(PNG, content_type="image/png")
    url = loopback_url(httpserver, "/pic.png")
    fetched = fetch(fetcher(("127.0.0.1",), allow_private=True), url, dest)
    assert fetched == FetchedFile(url=url, content_type="image/png", size_bytes=len(PNG))
    assert dest.read_bytes() == PNG
    request = httpserver.log[0][0]
    assert request.method == "GET" and request.headers["User-Agent"] == "story2video-import"
    assert "Cookie" not in request.headers and "Authorization" not in request.headers


def test_proxy_environment_is_ignored(httpserver, dest, monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    httpserver.expect_request("/pic.png").respond_with_data(PNG)
    fetch(fetcher(("127.0.0.1",), allow_private=True), loopback_url(httpserver, "/pic.png"), dest)
    assert dest.read_bytes() == PNG


def test_connection_pinned_to_the_checked_address(httpserver, dest):
    httpserver.expect_request("/pic.png").respond_with_data(PNG, content_type="image/png")
    resolver = table_resolver({"media.example.test": ["127.0.0.1"]})
    safe = fetcher(("media.example.test",), allow_private=True, resolver=resolver)
    url = f"http://media.example.test:{httpserver.port}/pic.png"
    fetched = fetch(safe, url, dest)
    assert resolver.asked == [("media.example.test", httpserver.port)]
    assert httpserver.log[0][0].headers["Host"] == f"media.example.test:{httpserver.port}"
    assert dest.read_bytes() == PNG and fetched.url == url and fetched.size_bytes == len(PNG)


def test_redirect_chain_within_allowed_hosts(httpserver, dest):
    port = httpserver.port
    httpserver.expect_request("/start").respond_with_response(Response(status=301, headers={"Location": "/middle"}))
    httpserver.expect_request("/middle").respond_with_response(
        Response(status=307, headers={"Location": f"http://media.example.test:{port}/end.mp3"})
    )
    httpserver.expect_request("/end.mp3").respond_with_data(b"ID3 music", content_type="audio/mpeg")
    safe = fetcher(
        ("127.0.0.1", "media.example.test"),
        allow_private=True,
        resolver=table_resolver({"media.example.test": ["127.0.0.1"]}),
    )
    fetched = fetch(safe, loopback_url(httpserver, "/start"), dest)
    assert fetched == FetchedFile(f"http://media.example.test:{port}/end.mp3", "audio/mpeg", 9)
    assert dest.read_bytes() == b"ID3 music"
    assert [request.path for request, _ in httpserver.log] == ["/start", "/middle", "/end.mp3"]
    assert httpserver.log[2][0].headers["Host"] == f"media.example.test:{port}"


def test_redirect_to_a_host_not_allowed_is_not_followed(httpserver, dest):
    port = httpserver.port
    httpserver.expect_request("/start").respond_with_response(
        Response(status=302, headers={"Location": f"http://evil.test:{port}/loot"})
    )
    httpserver.expect_request("/loot").respond_with_data(b"secret")
    resolver = table_resolver({"evil.test": ["127.0.0.1"]})
    error = refused(fetcher(("127.0.0.1",), allow_private=True, resolver=resolver), loopback_url(httpserver, "/start"), dest)
    assert error.code == "url_not_allowed" and "redirected" in error.message and "'evil.test'" in error.message
    assert [request.path for request, _ in httpserver.log] == ["/start"]
    assert resolver.asked == []


def test_too_many_redirects(httpserver, dest):
    httpserver.expect_request("/loop").respond_with_response(Response(status=302, headers={"Location": "/loop"}))
    error = refused(fetcher(("127.0.0.1",), allow_private=True, max_redirects=2), loopback_url(httpserver, "/loop"), dest)
    assert error.code == "url_not_allowed" and "more than 2" in error.message
    assert len(httpserver.log) == 3


def test_declared_length_over_limit_is_413(httpserver, dest):
    httpserver.expect_request("/big.png").respond_with_data(b"x" * 5000)
    error = refused(
        fetcher(("127.0.0.1",), allow_private=True, max_bytes=4096), loopback_url(httpserver, "/big.png"), dest,
        PayloadTooLarge,
    )
    assert "4096 bytes (MAX_UPLOAD_BYTES)" in error.message


def test_streamed_body_over_limit_is_413(httpserver, dest):
    def endless(request: Request) -> Response:
        return Response((b"y" * 1000 for _ in range(100)), mimetype="image/png")

    httpserver.expect_request("/stream.png").respond_with_handler(endless)
    error = refused(
        fetcher(("127.0.0.1",), allow_private=True, max_bytes=4096), loopback_url(httpserver, "/stream.png"), dest,
        PayloadTooLarge,
    )
    assert "MAX_UPLOAD_BYTES" in error.message
    assert "Content-Length" not in httpserver.log[0][1].headers


def test_streamed_body_at_the_limit_is_accepted(httpserver, dest):
    httpserver.expect_request("/stream.png").respond_with_handler(
        lambda request: Response((b"y" * 1024 for _ in range(4)), mimetype="image/png")
    )
    fetched = fetch(fetcher(("127.0.0.1",), allow_private=True, max_bytes=4096), loopback_url(httpserver, "/stream.png"), dest)
    assert fetched.size_bytes == 4096 and dest.read_bytes() == b"y" * 4096


def test_remote_404(httpserver, dest):
    httpserver.expect_request("/missing.png").respond_with_data(b"nope", status=404)
    error = refused(fetcher(("127.0.0.1",), allow_private=True), loopback_url(httpserver, "/missing.png"), dest)
    assert error.code == "url_fetch_failed" and "404" in error.message and "'127.0.0.1'" in error.message


def test_empty_body(httpserver, dest):
    httpserver.expect_request("/empty.png").respond_with_data(b"")
    error = refused(fetcher(("127.0.0.1",), allow_private=True), loopback_url(httpserver, "/empty.png"), dest)
    assert error.code == "url_fetch_failed" and "empty" in error.message


def test_connection_refused(dest):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = refused(fetcher(("127.0.0.1",), allow_private=True), f"http://127.0.0.1:{port}/pic.png", dest)
    assert error.code == "url_fetch_failed" and "ConnectError" in error.message


def test_a_file_already_at_dest_is_removed_on_failure(httpserver, dest):
    dest.write_bytes(b"left by the caller's mkstemp")
    httpserver.expect_request("/missing.png").respond_with_data(b"nope", status=404)
    refused(fetcher(("127.0.0.1",), allow_private=True), loopback_url(httpserver, "/missing.png"), dest)


def test_query_string_never_appears_in_errors(httpserver, dest):
    port = httpserver.port
    query = "?token=SECRET123&sig=SECRET123"
    httpserver.expect_request("/missing.png").respond_with_data(b"nope", status=404)
    httpserver.expect_request("/big.png").respond_with_data(b"x" * 5000)
    httpserver.expect_request("/away").respond_with_response(
        Response(status=302, headers={"Location": f"http://evil.test/loot{query}"})
    )
    httpserver.expect_request("/loop").respond_with_response(Response(status=302, headers={"Location": f"/loop{query}"}))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    loopback = fetcher(("127.0.0.1",), allow_private=True, max_bytes=4096, max_redirects=1)
    cases = [
        (fetcher(()), f"http://127.0.0.1:{port}/x{query}"),
        (fetcher(("media.example.com",)), f"http://127.0.0.1:{port}/x{query}"),
        (fetcher(("127.0.0.1",)), f"http://127.0.0.1:{port}/x{query}"),
        (fetcher(("127.0.0.1",)), f"ftp://127.0.0.1/x{query}"),
        (loopback, f"http://127.0.0.1:{port}/missing.png{query}"),
        (loopback, f"http://127.0.0.1:{port}/big.png{query}"),
        (loopback, f"http://127.0.0.1:{port}/away{query}"),
        (loopback, f"http://127.0.0.1:{port}/loop{query}"),
        (loopback, f"http://127.0.0.1:{closed_port}/x{query}"),
    ]
    for safe, url in cases:
        error = refused(safe, url, dest)
        assert "SECRET123" not in error.message and "SECRET123" not in str(error), (url, error.message)


# --- simulated public hosts (MockTransport)


def test_https_request_is_pinned_with_host_header_and_sni(dest):
    recorder = Recorder({"/pic.png": serve(PNG)})
    resolver = table_resolver({"cdn.example.com": [PUBLIC_IP, "93.184.216.35"]})
    safe = fetcher(("cdn.example.com",), resolver=resolver, transport=recorder.transport())
    fetched = fetch(safe, "https://cdn.example.com/pic.png?v=2", dest)
    assert fetched == FetchedFile("https://cdn.example.com/pic.png?v=2", "image/png", len(PNG))
    assert dest.read_bytes() == PNG
    [request] = recorder.requests
    assert request.url.scheme == "https" and request.url.netloc == PUBLIC_IP.encode()
    assert request.url.query == b"v=2"
    assert request.headers["Host"] == "cdn.example.com"
    assert request.extensions["sni_hostname"] == "cdn.example.com"
    assert resolver.asked == [("cdn.example.com", 443)]


def test_ipv6_address_and_non_default_port(dest):
    recorder = Recorder({"/a.mp3": serve(b"ID3", "audio/mpeg")})
    resolver = table_resolver({"cdn.example.com": ["2606:4700:4700::1111"]})
    safe = fetcher(("cdn.example.com",), resolver=resolver, transport=recorder.transport())
    fetch(safe, "http://cdn.example.com:8080/a.mp3", dest)
    [request] = recorder.requests
    assert request.url.host == "2606:4700:4700::1111" and request.url.port == 8080
    assert request.headers["Host"] == "cdn.example.com:8080"
    assert "sni_hostname" not in request.extensions


def test_redirect_from_public_host_to_loopback_is_not_followed(dest):
    recorder = Recorder({"/pic.png": redirect_to("http://127.0.0.1/admin"), "/admin": serve(b"secret")})
    safe = fetcher(
        ("cdn.example.com", "127.0.0.1"),
        resolver=table_resolver({"cdn.example.com": [PUBLIC_IP]}),
        transport=recorder.transport(),
    )
    error = refused(safe, "https://cdn.example.com/pic.png", dest)
    assert error.code == "url_not_allowed" and "loopback" in error.message and "redirected" in error.message
    assert [request.url.path for request in recorder.requests] == ["/pic.png"]


def test_redirect_to_host_resolving_to_metadata_address_is_not_followed(dest):
    recorder = Recorder({"/pic.png": redirect_to("https://b.example.com/latest/meta-data/")})
    resolver = table_resolver({"a.example.com": [PUBLIC_IP], "b.example.com": ["169.254.169.254"]})
    safe = fetcher(("*.example.com",), resolver=resolver, transport=recorder.transport())
    error = refused(safe, "https://a.example.com/pic.png", dest)
    assert error.code == "url_not_allowed" and "link-local" in error.message
    assert len(recorder.requests) == 1


def test_redirect_hops_send_no_cookies_and_only_get(dest):
    def set_cookie_and_redirect(request: httpx.Request) -> httpx.Response:
        return httpx.Response(303, headers={"Location": "https://b.example.com/pic.png", "Set-Cookie": "sid=abc"})

    recorder = Recorder({"/start": set_cookie_and_redirect, "/pic.png": serve(PNG)})
    resolver = table_resolver({"a.example.com": [PUBLIC_IP], "b.example.com": [PUBLIC_IP]})
    safe = fetcher(("a.example.com", "b.example.com"), resolver=resolver, transport=recorder.transport())
    fetched = fetch(safe, "https://a.example.com/start", dest)
    assert fetched.url == "https://b.example.com/pic.png"
    assert [request.method for request in recorder.requests] == ["GET", "GET"]
    assert all("cookie" not in request.headers for request in recorder.requests)
    assert recorder.requests[1].headers["Host"] == "b.example.com"
    assert recorder.requests[1].extensions["sni_hostname"] == "b.example.com"


def test_chunked_body_stops_being_read_past_the_limit(dest):
    pulled = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(1000):
            pulled += 1
            yield b"z" * 1000

    def chunked(request: httpx.Request) -> httpx.Response:
        response = httpx.Response(200, content=chunks())
        assert "content-length" not in response.headers
        return response

    safe = fetcher(
        ("cdn.example.com",),
        max_bytes=2500,
        resolver=table_resolver({"cdn.example.com": [PUBLIC_IP]}),
        transport=httpx.MockTransport(chunked),
    )
    refused(safe, "https://cdn.example.com/big.png", dest, PayloadTooLarge)
    assert pulled == 3


def test_declared_length_over_limit_is_refused_before_reading(dest):
    pulled = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal pulled
        pulled += 1
        yield b"z" * 10

    def huge(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(10**12)}, content=chunks())

    safe = fetcher(
        ("cdn.example.com",),
        max_bytes=4096,
        resolver=table_resolver({"cdn.example.com": [PUBLIC_IP]}),
        transport=httpx.MockTransport(huge),
    )
    error = refused(safe, "https://cdn.example.com/big.png", dest, PayloadTooLarge)
    assert "4096 bytes (MAX_UPLOAD_BYTES)" in error.message and "cdn.example.com" in error.message
    assert pulled == 0


def test_resolver_answer_that_is_not_an_address(dest):
    safe = fetcher(
        ("cdn.example.com",), allow_private=True, resolver=table_resolver({"cdn.example.com": ["not-an-ip"]})
    )
    error = refused(safe, "https://cdn.example.com/pic.png", dest)
    assert error.code == "url_fetch_failed"


@pytest.mark.parametrize("error_type", [httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError])
def test_httpx_errors_become_fetch_failures(dest, error_type):
    def fail(request: httpx.Request) -> httpx.Response:
        raise error_type("boom", request=request)

    safe = fetcher(
        ("cdn.example.com",),
        resolver=table_resolver({"cdn.example.com": [PUBLIC_IP]}),
        transport=httpx.MockTransport(fail),
    )
    error = refused(safe, "https://cdn.example.com/pic.png", dest)
    assert error.code == "url_fetch_failed" and error_type.__name__ in error.message
    assert isinstance(error.__cause__, error_type)


def test_read_error_mid_body_removes_the_partial_file(dest):
    async def chunks() -> AsyncIterator[bytes]:
        yield b"half a picture"
        raise httpx.ReadError("connection reset")

    safe = fetcher(
        ("cdn.example.com",),
        resolver=table_resolver({"cdn.example.com": [PUBLIC_IP]}),
        transport=httpx.MockTransport(lambda request: httpx.Response(200, content=chunks())),
    )
    error = refused(safe, "https://cdn.example.com/pic.png", dest)
    assert error.code == "url_fetch_failed" and "ReadError" in error.message


def test_whole_import_times_out(dest):
    async def stall(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(60)
        return httpx.Response(200, content=PNG)

    safe = fetcher(
        ("cdn.example.com",),
        timeout_s=0.05,
        resolver=table_resolver({"cdn.example.com": [PUBLIC_IP]}),
        transport=httpx.MockTransport(stall),
    )
    error = refused(safe, "https://cdn.example.com/pic.png", dest)
    assert error.code == "url_fetch_failed"
    assert "timed out after 0.05 s (UPLOAD_URL_TIMEOUT_S)" in error.message and "cdn.example.com" in error.message
