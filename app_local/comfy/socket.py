"""ComfyUI's ``/ws?clientId=`` progress socket, read by websocket-client in a thread of its own.

Every JSON message, and every (re)connect and drop, is handed to the event loop with
``loop.call_soon_threadsafe``. A dropped socket is reopened with the same clientId, so ComfyUI
keeps routing the prompt's messages to us; what it sent while we were away is lost, which is why
the prompt watcher checks ``/history`` after every reconnect. Binary frames (previews) are ignored.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import websocket
from loguru import logger

from story2video.errors import describe_exception

EventKind = Literal["message", "connected", "disconnected"]
_RETRY_DELAYS_S = (0.1, 0.25, 0.5, 1.0, 2.0)
_JOIN_TIMEOUT_S = 2.0  # a thread still inside a connect attempt ends on its own once that times out


@dataclass(frozen=True)
class SocketEvent:
    kind: EventKind
    type: str = ""  # the message's "type" (kind == "message")
    data: dict[str, Any] = field(default_factory=dict)
    reason: str = ""  # why the socket dropped (kind == "disconnected")


def socket_url(host: str, client_id: str) -> str:
    scheme, rest = host.split("://", 1)
    ws_scheme = "wss" if scheme == "https" else "ws"
    return f"{ws_scheme}://{rest}/ws?clientId={quote(client_id)}"


def parse_message(text: str) -> SocketEvent | None:
    """A JSON frame as an event; None for frames that are not ``{"type": str, "data": object}``."""
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return None
    data = message.get("data")
    return SocketEvent("message", type=message["type"], data=data if isinstance(data, dict) else {})


class ComfySocket:
    """Keeps one websocket to ``host`` open for ``client_id`` until ``close()``; events go to ``queue``."""

    def __init__(self, host: str, client_id: str, queue: asyncio.Queue[SocketEvent], connect_timeout: float):
        self.url = socket_url(host, client_id)
        self._queue = queue
        self._loop = asyncio.get_running_loop()
        self._connect_timeout = connect_timeout
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._connection: websocket.WebSocket | None = None
        self._thread = threading.Thread(target=self._run, name=f"comfy-ws {host}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    async def close(self) -> None:
        """Stop reconnecting, break the open connection and wait for the thread to end."""
        self._stopped.set()
        with self._lock:
            connection = self._connection
        if connection is not None:
            connection.abort()  # wakes the thread blocked in recv; it closes the socket itself
        await asyncio.to_thread(self._thread.join, _JOIN_TIMEOUT_S)

    # ------------------------------------------------------------ thread side

    def _run(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            reason = self._session()
            if self._stopped.is_set() or not self._emit(SocketEvent("disconnected", reason=reason)):
                return
            failures = failures + 1 if reason.startswith("connect") else 0
            self._stopped.wait(_RETRY_DELAYS_S[min(failures, len(_RETRY_DELAYS_S) - 1)])

    def _session(self) -> str:
        """Connect and read until the connection ends; why it ended."""
        try:
            connection = websocket.create_connection(self.url, timeout=self._connect_timeout)
        except (OSError, websocket.WebSocketException) as exc:
            return f"connect to {self.url} failed: {describe_exception(exc)}"
        connection.settimeout(None)  # silence is judged by the watcher, which polls /history
        with self._lock:
            self._connection = connection
        try:
            if self._stopped.is_set() or not self._emit(SocketEvent("connected")):
                return "closed"
            return self._read(connection)
        finally:
            with self._lock:
                self._connection = None
            connection.shutdown()

    def _read(self, connection: websocket.WebSocket) -> str:
        while not self._stopped.is_set():
            try:
                opcode, payload = connection.recv_data()
            except (OSError, websocket.WebSocketException) as exc:
                return f"the connection broke: {describe_exception(exc)}"
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return "the server closed the socket"
            if opcode != websocket.ABNF.OPCODE_TEXT:
                continue  # binary frames carry preview images
            event = parse_message(payload.decode("utf-8", errors="replace"))
            if event is not None and not self._emit(event):
                return "closed"
        return "closed"

    def _emit(self, event: SocketEvent) -> bool:
        """Hand ``event`` to the event loop; False once that loop is closed (nobody listens any more)."""
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)
        except RuntimeError:
            logger.debug("ComfyUI socket {}: the event loop is closed; stopping", self.url)
            self._stopped.set()
            return False
        return True
