"""Words for errors: an exception described is never blank, and messages for callers name no paths."""

from __future__ import annotations

import asyncio
import socket
import struct

import httpx
import pytest

from story2video.errors import describe_exception, without_paths


def raised(error: BaseException, cause: BaseException | None = None) -> BaseException:
    try:
        raise error from cause
    except BaseException as caught:  # noqa: BLE001 - the test wants the raised object, whatever it is
        return caught


@pytest.mark.parametrize(
    ("error", "with_type", "described"),
    [
        (ValueError("bad value"), False, "bad value"),
        (KeyError("x"), True, "KeyError: 'x'"),
        (RuntimeError(), False, "RuntimeError"),
        (TimeoutError("   "), True, "TimeoutError"),
        (raised(httpx.ReadError(""), ConnectionResetError(104, "Connection reset by peer")), False,
         "ReadError ([Errno 104] Connection reset by peer)"),
        (raised(httpx.ConnectError("All connection attempts failed"), OSError("Connect call failed")), True,
         "ConnectError: All connection attempts failed (Connect call failed)"),
        (raised(RuntimeError("same words"), ValueError("same words")), False, "same words"),
    ],
)
def test_an_exception_is_described_by_its_message_else_its_class_and_its_cause(error, with_type, described):
    assert describe_exception(error, with_type=with_type) == described


def test_a_reset_connection_under_httpx_is_described_by_the_reset():
    """httpx raises ReadError('') over httpcore's ReadError(BrokenResourceError()), re-raised ``from
    None``: the reset is only found through the exception httpcore was given."""

    async def reset_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1000)
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def ask() -> BaseException:
        server = await asyncio.start_server(reset_once, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server, httpx.AsyncClient() as client:
            with pytest.raises(httpx.ReadError) as caught:
                await client.get(f"http://127.0.0.1:{port}/history/x")
        return caught.value

    error = asyncio.run(ask())
    assert str(error) == ""  # what made "GET /history/... failed:" end in nothing
    assert describe_exception(error) == "ReadError ([Errno 104] Connection reset by peer)"


@pytest.mark.parametrize(
    ("text", "public"),
    [
        ("/srv/s2v/artifacts/ab/abc.tmp.1234abcd.m4a: Invalid data found", "<file>: Invalid data found"),
        ("Error opening input file '/home/Jo Smith/shots/a b.png'.", "Error opening input file 'a b.png'."),
        ("/tmp/tmpx8a2/k.png and ./rel/seg.mp4 and /tmp/tmpx8a2", "k.png and seg.mp4 and <file>"),
        ("abc123.tmp.deadbeef.m4a is not a media file", "<file> is not a media file"),
        ("44100 Hz, 128 kb/s, tb 1/25, in#0/wav", "44100 Hz, 128 kb/s, tb 1/25, in#0/wav"),
    ],
)
def test_paths_are_cut_to_file_names_and_temp_names_hidden(text, public):
    assert without_paths(text) == public
