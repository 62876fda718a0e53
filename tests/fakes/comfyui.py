"""A fake ComfyUI server that speaks the real protocol (shared/ref/comfyui-protocol.md), on 127.0.0.1.

aiohttp in a thread of its own. It validates prompts like ComfyUI (400 + ``node_errors``), runs one
prompt at a time through real model-free node classes (tests/fakes/comfy_nodes.py) in topological
order, and sends the websocket messages in ComfyUI's order: status -> execution_start ->
execution_cached -> executing -> progress (with binary preview frames) -> executed ->
execution_success -> (history write) -> status -> executing{node: null}. Messages go to the
submitting clientId only (status and progress are broadcast) and are dropped when its socket is gone.

``GET /object_info/<class>`` describes each node class as ComfyUI does; ``upscale_models`` is the
host's model files (what UpscaleModelLoader lists and loads).

Test controls: ``node_delay_s`` (per node, so a test can act mid-job), ``history_delay_s`` (widens the
execution_success/history race), ``kill()``/``restart()`` (a dead host; a restart loses queue and
history), ``hang_up()`` (every connection reset, as by a host whose network died mid-job),
``drop_sockets()``, ``muted`` (a stalled socket), ``fail_node()`` (execution_error).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket as sockets
import struct
import threading
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, web
from PIL import Image

from tests.fakes.comfy_graph import execution_order, resolve_inputs, validate_prompt
from tests.fakes.comfy_nodes import Folders, node_classes, node_info

GIB = 1024**3
_PREVIEW_PNG = 2  # binary frame: u32 BE event type 1 (preview image), u32 BE format 2 (png), bytes


@dataclass
class QueueItem:
    number: int
    prompt_id: str
    graph: dict
    extra_data: dict
    outputs: list[str]

    def as_entry(self) -> list:
        return [self.number, self.prompt_id, self.graph, self.extra_data, self.outputs]

    @property
    def client_id(self) -> str | None:
        return self.extra_data.get("client_id")


class Interrupted(Exception):
    pass


class NodeFailure(Exception):
    def __init__(self, exception_type: str, message: str):
        super().__init__(message)
        self.exception_type = exception_type
        self.message = message


class FakeComfyUI:
    def __init__(
        self,
        root: Path,
        *,
        node_delay_s: float = 0.01,
        progress_steps: int = 2,
        history_delay_s: float = 0.0,
        upscale_models: tuple[str, ...] = ("2x-test.pth",),
        device: str = "Fake GPU 0",
        accepts_prompt_id: bool = True,  # False: like ComfyUI before 2025, which chose every prompt_id itself
        combo_style: str = "list",  # "COMBO": choices listed like nodes on ComfyUI's newer schema
    ):
        self.folders = Folders(input=root / "input", output=root / "output", temp=root / "temp",
                               upscale_models={name: 2 for name in upscale_models})
        for folder in (self.folders.input, self.folders.output, self.folders.temp):
            folder.mkdir(parents=True, exist_ok=True)
        self.classes = node_classes(upscale_models)
        self.node_delay_s = node_delay_s
        self.progress_steps = progress_steps
        self.history_delay_s = history_delay_s
        self.device = device
        self.accepts_prompt_id = accepts_prompt_id
        self.combo_style = combo_style
        self.muted = False  # True: keep sockets open but send nothing (a stalled socket)
        self.resetting = False  # True: every HTTP request gets its connection reset (see hang_up)
        # what the fake saw, for assertions (appended in the server thread)
        self.prompts: list[dict] = []  # POST /prompt bodies
        self.queued_ids: list[str] = []  # the prompt_id each accepted prompt was queued under
        self.interrupts: list[dict] = []  # POST /interrupt bodies
        self.queue_deletes: list[str] = []
        self.uploads: list[str] = []
        self.socket_connects: list[str] = []  # clientIds, one per connection
        self.started = threading.Event()  # set when a prompt starts executing
        self.failures: dict[str, tuple[str, str]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-comfyui", daemon=True)
        self._thread.start()
        self._port = 0
        self._runner: web.AppRunner | None = None
        self._reset_state()

    # ------------------------------------------------------------ control (called from the test thread)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> FakeComfyUI:
        self._call(self._start())
        return self

    @property
    def submissions(self) -> int:
        """Prompts this host accepted (``POST /prompt`` answered 200), over restarts too."""
        return len(self.queued_ids)

    def kill(self) -> None:
        """Stop answering: connections are refused from now on; queue and history are lost."""
        self._call(self._stop())

    def restart(self) -> None:
        """Come back on the same port with an empty queue and history, like a restarted ComfyUI."""
        self._call(self._stop())
        self._call(self._start())

    def close(self) -> None:
        if self._runner is not None:
            self.kill()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def hang_up(self) -> None:
        """From now on reset every connection: open websockets at once, each HTTP request as it
        arrives (a TCP RST, not a clean close). The prompt keeps running inside, unreachable."""
        self.resetting = True
        self._call(self._reset_sockets())

    def drop_sockets(self) -> None:
        """Close every websocket from the server side; running prompts go on."""
        self._call(self._close_sockets(WSCloseCode.INTERNAL_ERROR))

    def add_upscale_model(self, name: str, scale: int = 2) -> None:
        """A model file put into the host's models/upscale_models folder while it runs."""
        self.folders.upscale_models[name] = scale
        self.classes = node_classes(tuple(self.folders.upscale_models))

    def fail_node(self, class_type: str, exception_type: str, message: str) -> None:
        """Nodes of ``class_type`` raise while executing (an execution_error)."""
        self.failures[class_type] = (exception_type, message)

    def output_file(self, subfolder: str, filename: str) -> Path:
        return self.folders.output / subfolder / filename

    def _call(self, coroutine) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    # ------------------------------------------------------------ lifecycle (server thread)

    def _reset_state(self) -> None:
        self.pending: list[QueueItem] = []
        self.running: QueueItem | None = None
        self.running_node: str | None = None
        self.history: dict[str, dict] = {}
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._socket_requests: dict[str, web.Request] = {}
        self.resetting = False
        self._number = 0
        self._work = asyncio.Event()  # bound to the server loop on first use
        self._interrupt = asyncio.Event()
        self._worker_task: asyncio.Task | None = None

    async def _start(self) -> None:
        self._reset_state()
        self._runner = web.AppRunner(self._app(), access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        self._port = self._runner.addresses[0][1]
        self._worker_task = asyncio.create_task(self._worker())

    async def _stop(self) -> None:
        if self._worker_task is not None:
            self._worker_task.cancel()
            with suppress(asyncio.CancelledError):  # our own cancellation of the worker
                await self._worker_task
        await self._close_sockets(WSCloseCode.GOING_AWAY)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _close_sockets(self, code: int) -> None:
        for socket in list(self._sockets.values()):
            await socket.close(code=code)

    async def _reset_sockets(self) -> None:
        for request in list(self._socket_requests.values()):
            _reset_connection(request)

    @web.middleware
    async def _resets(self, request: web.Request, handler) -> web.StreamResponse:
        if self.resetting:
            _reset_connection(request)
            raise web.HTTPServiceUnavailable()  # never reaches the client: its connection is gone
        return await handler(request)

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._resets])
        routes = [
            ("POST", "/prompt", self._post_prompt), ("GET", "/prompt", self._get_prompt),
            ("GET", "/history/{prompt_id}", self._get_history_item), ("GET", "/history", self._get_history),
            ("POST", "/history", self._post_history), ("GET", "/queue", self._get_queue),
            ("POST", "/queue", self._post_queue), ("POST", "/interrupt", self._post_interrupt),
            ("GET", "/system_stats", self._system_stats), ("POST", "/upload/image", self._upload_image),
            ("GET", "/view", self._view), ("GET", "/ws", self._websocket),
            ("GET", "/object_info", self._object_info), ("GET", "/object_info/{node_class}", self._object_info_node),
        ]
        for prefix in ("", "/api"):  # ComfyUI serves every route bare and under /api
            for method, path, handler in routes:
                app.router.add_route(method, prefix + path, handler)
        return app

    # ------------------------------------------------------------ prompts

    async def _post_prompt(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        self.prompts.append(body)
        if "prompt" not in body:
            no_prompt = {"type": "no_prompt", "message": "No prompt provided", "details": "No prompt provided", "extra_info": {}}
            return web.json_response({"error": no_prompt, "node_errors": {}}, status=400)
        error, outputs, node_errors = validate_prompt(body["prompt"], self.classes, self.folders)
        if error is not None:
            return web.json_response({"error": error, "node_errors": node_errors}, status=400)
        extra = dict(body.get("extra_data") or {})
        if "client_id" in body:
            extra["client_id"] = body["client_id"]
        prompt_id = str((self.accepts_prompt_id and body.get("prompt_id")) or uuid.uuid4())
        item = QueueItem(self._number, prompt_id, body["prompt"], extra, outputs)
        self._number += 1
        self.queued_ids.append(prompt_id)
        self.pending.append(item)
        self._work.set()
        return web.json_response({"prompt_id": prompt_id, "number": item.number, "node_errors": node_errors})

    async def _get_prompt(self, _: web.Request) -> web.Response:
        return web.json_response({"exec_info": {"queue_remaining": self._queue_remaining()}})

    def _queue_remaining(self) -> int:
        return len(self.pending) + (1 if self.running else 0)

    async def _get_queue(self, _: web.Request) -> web.Response:
        running = [self.running.as_entry()] if self.running else []
        return web.json_response({"queue_running": running, "queue_pending": [item.as_entry() for item in self.pending]})

    async def _post_queue(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if body.get("clear"):
            self.pending.clear()
        for prompt_id in body.get("delete") or []:
            self.queue_deletes.append(prompt_id)
            self.pending = [item for item in self.pending if item.prompt_id != prompt_id]
        return web.Response(status=200)

    async def _post_interrupt(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        self.interrupts.append(body)
        wanted = body.get("prompt_id")
        if self.running is not None and wanted in (None, self.running.prompt_id):
            self._interrupt.set()
        return web.Response(status=200)

    async def _get_history_item(self, request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        entry = self.history.get(prompt_id)
        return web.json_response({prompt_id: entry} if entry is not None else {})

    async def _get_history(self, _: web.Request) -> web.Response:
        return web.json_response(self.history)

    async def _post_history(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if body.get("clear"):
            self.history.clear()
        for prompt_id in body.get("delete") or []:
            self.history.pop(prompt_id, None)
        return web.Response(status=200)

    async def _system_stats(self, _: web.Request) -> web.Response:
        return web.json_response({
            "system": {"os": "posix", "ram_total": 64 * GIB, "ram_free": 48 * GIB, "comfyui_version": "0.3.fake",
                       "python_version": "3.11", "pytorch_version": "fake", "embedded_python": False, "argv": ["main.py"]},
            "devices": [{"name": self.device, "type": "cuda", "index": 0, "vram_total": 80 * GIB, "vram_free": 70 * GIB,
                         "torch_vram_total": 0, "torch_vram_free": 0}],
        })

    async def _object_info(self, _: web.Request) -> web.Response:
        return web.json_response(
            {name: node_info(name, node, self.folders, self.combo_style) for name, node in self.classes.items()}
        )

    async def _object_info_node(self, request: web.Request) -> web.Response:
        """ComfyUI answers ``{}`` for a class it does not have."""
        name = request.match_info["node_class"]
        node = self.classes.get(name)
        return web.json_response({name: node_info(name, node, self.folders, self.combo_style)} if node else {})

    # ------------------------------------------------------------ files

    async def _upload_image(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("image")
        if not isinstance(upload, web.FileField):
            return web.Response(status=400)
        kind = str(form.get("type") or "input")
        base = {"input": self.folders.input, "temp": self.folders.temp, "output": self.folders.output}.get(kind)
        subfolder = str(form.get("subfolder") or "")
        if base is None or not _inside(base / subfolder, base):
            return web.Response(status=400)
        folder = base / subfolder
        folder.mkdir(parents=True, exist_ok=True)
        name = _free_name(folder, os.path.basename(upload.filename), overwrite=str(form.get("overwrite")) in ("true", "1"))
        (folder / name).write_bytes(upload.file.read())
        self.uploads.append(name)
        return web.json_response({"name": name, "subfolder": subfolder, "type": kind})

    async def _view(self, request: web.Request) -> web.StreamResponse:
        filename = request.query.get("filename")
        if not filename:
            return web.Response(status=404)
        if filename[0] == "/" or ".." in filename:
            return web.Response(status=400)
        kind = request.query.get("type", "output")
        base = {"input": self.folders.input, "temp": self.folders.temp}.get(kind, self.folders.output)
        folder = base / request.query.get("subfolder", "")
        if not _inside(folder, base):
            return web.Response(status=403)
        path = folder / filename
        if not path.is_file():
            return web.Response(status=404)
        return web.FileResponse(path)

    # ------------------------------------------------------------ websocket

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        self._sockets[sid] = socket
        self._socket_requests[sid] = request
        self.socket_connects.append(sid)
        try:
            await socket.send_json({"type": "status", "data": {**self._status_data(), "sid": sid}})
            if self.running is not None and self.running.client_id == sid and self.running_node is not None:
                data = {"node": self.running_node, "display_node": self.running_node, "prompt_id": self.running.prompt_id}
                await socket.send_json({"type": "executing", "data": data})
            async for _ in socket:
                pass  # ComfyUI's frontend may send feature flags; nothing to do with them here
        finally:
            if self._sockets.get(sid) is socket:
                del self._sockets[sid]
                self._socket_requests.pop(sid, None)
        return socket

    def _status_data(self) -> dict:
        return {"status": {"exec_info": {"queue_remaining": self._queue_remaining()}}}

    async def _send(self, kind: str, data: dict, sid: str | None) -> None:
        """To ``sid``'s socket, or to every socket when ``sid`` is None; dropped if that socket is gone."""
        if self.muted:
            return
        text = json.dumps({"type": kind, "data": data})
        for socket in self._targets(sid):
            with suppress(ConnectionError):  # ComfyUI drops messages for a socket that went away
                await socket.send_str(text)

    async def _send_preview(self, sid: str | None) -> None:
        if self.muted:
            return
        for socket in self._targets(sid):
            with suppress(ConnectionError):
                await socket.send_bytes(struct.pack(">II", 1, _PREVIEW_PNG) + _preview_png())

    def _targets(self, sid: str | None) -> list[web.WebSocketResponse]:
        sockets = list(self._sockets.values()) if sid is None else [self._sockets[sid]] if sid in self._sockets else []
        return [socket for socket in sockets if not socket.closed]

    # ------------------------------------------------------------ execution

    async def _worker(self) -> None:
        while True:
            await self._work.wait()
            if not self.pending:
                self._work.clear()
                continue
            self.running = self.pending.pop(0)
            self._interrupt.clear()
            self.started.set()
            await self._execute(self.running)

    async def _execute(self, item: QueueItem) -> None:
        sid, prompt_id = item.client_id, item.prompt_id
        messages: list[list] = []

        async def record(kind: str, data: dict) -> None:
            messages.append([kind, data])
            await self._send(kind, data, sid)

        await record("execution_start", {"prompt_id": prompt_id, "timestamp": _now_ms()})
        await record("execution_cached", {"nodes": [], "prompt_id": prompt_id, "timestamp": _now_ms()})
        ui_outputs: dict[str, dict] = {}
        executed: list[str] = []
        status = "error"
        try:
            await self._run_nodes(item, ui_outputs, executed)
            status = "success"
            await record("execution_success", {"prompt_id": prompt_id, "timestamp": _now_ms()})
        except Interrupted:
            await record("execution_interrupted", {**self._failure_head(item), "executed": executed})
        except NodeFailure as failure:
            await record("execution_error", {
                **self._failure_head(item), "executed": executed, "exception_message": failure.message,
                "exception_type": failure.exception_type, "traceback": ["Traceback (fake)"],
                "current_inputs": {}, "current_outputs": {},
            })
        await asyncio.sleep(self.history_delay_s)  # execution_success is sent before the history is written
        self.history[prompt_id] = {
            "prompt": item.as_entry(),
            "outputs": ui_outputs,
            "status": {"status_str": status, "completed": status == "success", "messages": messages},
            "meta": {
                node: {"node_id": node, "display_node": node, "parent_node": None, "real_node_id": node} for node in ui_outputs
            },
        }
        self.running, self.running_node = None, None
        await self._send("status", self._status_data(), None)
        await self._send("executing", {"node": None, "prompt_id": prompt_id}, sid)

    def _failure_head(self, item: QueueItem) -> dict:
        node = self.running_node
        return {"prompt_id": item.prompt_id, "node_id": node, "node_type": item.graph[node]["class_type"] if node else None,
                "timestamp": _now_ms()}

    async def _run_nodes(self, item: QueueItem, ui_outputs: dict[str, dict], executed: list[str]) -> None:
        results: dict[str, tuple] = {}
        for node_id in execution_order(item.graph, item.outputs):
            self.running_node = node_id
            node = item.graph[node_id]
            data = {"node": node_id, "display_node": node_id, "prompt_id": item.prompt_id}
            await self._send("executing", data, item.client_id)
            await self._work_on(item, node_id)
            results[node_id], ui = await self._run_node(node, results)
            if ui is not None:
                ui_outputs[node_id] = ui
                await self._send("executed", {**data, "output": ui}, item.client_id)
            executed.append(node_id)

    async def _work_on(self, item: QueueItem, node_id: str) -> None:
        """The node's "sampling": delay in steps, each with a preview frame and a progress message."""
        for step in range(1, self.progress_steps + 1):
            try:
                await asyncio.wait_for(self._interrupt.wait(), self.node_delay_s / self.progress_steps)
            except TimeoutError:
                pass  # the step's time passed without an interrupt
            else:
                raise Interrupted()
            await self._send_preview(item.client_id)
            progress = {"value": step, "max": self.progress_steps, "prompt_id": item.prompt_id, "node": node_id}
            await self._send("progress", progress, None)

    async def _run_node(self, node: dict, results: dict[str, tuple]) -> tuple[tuple, dict | None]:
        class_type = node["class_type"]
        if class_type in self.failures:
            raise NodeFailure(*self.failures[class_type])
        spec = self.classes[class_type]
        values = resolve_inputs(node, spec, results)
        try:
            return await asyncio.to_thread(spec.run, self.folders, values)
        except Exception as exc:  # a node's exception becomes execution_error, as in ComfyUI
            raise NodeFailure(f"{type(exc).__module__}.{type(exc).__name__}", str(exc)) from exc


def _reset_connection(request: web.Request) -> None:
    """Close the request's TCP connection with a reset (SO_LINGER 0), as a host whose network died."""
    transport = request.transport
    if transport is None:
        return
    raw = transport.get_extra_info("socket")
    if raw is not None:
        raw.setsockopt(sockets.SOL_SOCKET, sockets.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _json_body(request: web.Request) -> dict:
    if not request.can_read_body:
        return {}
    body = await request.json()
    return body if isinstance(body, dict) else {}


def _inside(path: Path, base: Path) -> bool:
    return os.path.commonpath([os.path.abspath(path), os.path.abspath(base)]) == os.path.abspath(base)


def _free_name(folder: Path, name: str, overwrite: bool) -> str:
    """ComfyUI renames a clashing upload to ``name (1).ext``, ``name (2).ext``... unless told to overwrite."""
    if overwrite:
        return name
    stem, extension = os.path.splitext(name)
    candidate, counter = name, 1
    while (folder / candidate).exists():
        candidate = f"{stem} ({counter}){extension}"
        counter += 1
    return candidate


_PREVIEW: bytes | None = None


def _preview_png() -> bytes:
    global _PREVIEW
    if _PREVIEW is None:
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), (128, 64, 32)).save(buffer, format="PNG")
        _PREVIEW = buffer.getvalue()
    return _PREVIEW
