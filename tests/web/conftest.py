"""Browser tests: the real service (preview backends, small frames) on a free port, driven by headless
Chromium through Playwright. Skipped, with the reason, where Chromium or Playwright is missing."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import uvicorn

from app_api import build_providers
from story2video.app import create_app
from story2video.errors import BackendUnavailable, OperationCancelled
from tests.conftest import small_settings

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
TIMEOUT_MS = 30_000


class Valve:
    """Holds every backend call while closed (it starts open), so a test can look at a page mid-operation."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._open.set()

    def close(self) -> None:
        self._open.clear()

    def open(self) -> None:
        self._open.set()

    async def pass_through(self, ctx) -> None:
        while not self._open.is_set():
            if ctx.is_cancelled():
                raise OperationCancelled()
            await asyncio.sleep(0.01)


class ControlledPainter:
    """The preview keyframe backend behind a valve; `failure` makes calls fail as an unreachable backend would."""

    def __init__(self, inner) -> None:
        self.inner, self.valve, self.failure = inner, Valve(), None
        self.backend, self.model = inner.backend, inner.model

    async def generate(self, request, dest, ctx):
        await self.valve.pass_through(ctx)
        if self.failure:
            raise BackendUnavailable(self.failure, backend=self.backend)
        return await self.inner.generate(request, dest, ctx)

    async def status(self):
        return await self.inner.status()


class ControlledSpeech:
    def __init__(self, inner) -> None:
        self.inner, self.valve = inner, Valve()
        self.backend, self.model = inner.backend, inner.model

    async def synthesize(self, request, dest, ctx):
        await self.valve.pass_through(ctx)
        return await self.inner.synthesize(request, dest, ctx)

    def voice_for(self, hints, taken):
        return self.inner.voice_for(hints, taken)

    async def status(self):
        return await self.inner.status()


@dataclass
class LiveService:
    url: str
    painter: ControlledPainter
    speech: ControlledSpeech


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="session")
def fresh_screenshots() -> None:
    """The run's screenshots replace the last run's."""
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()


@pytest.fixture(scope="module")
def chromium_browser(fresh_screenshots):
    """One headless Chromium per test module (asked for before the service, so a skip starts nothing). Not one
    per session: Playwright's sync API keeps an event loop set on the main thread while it is open, and
    tests after the browser tests that call asyncio.run would fail."""
    if not CHROMIUM.is_file():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright (pip install -r requirements-dev.txt)")
    sync_api.expect.set_options(timeout=TIMEOUT_MS)
    with sync_api.sync_playwright() as playwright:
        # No CJK font is handed to Chromium: the page must draw Chinese with the web font the service serves.
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextmanager
def serving(app) -> Iterator[str]:
    """Run ``app`` under uvicorn in a background thread on a free port; yields its base URL."""
    sock = _listening_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="live-service", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@pytest.fixture(scope="session")
def live_service(tmp_path_factory) -> Iterator[LiveService]:
    """The real app under uvicorn in a background thread: preview backends, 180p, 12 fps, files in a temp dir."""
    settings = small_settings(tmp_path_factory.mktemp("service"))
    providers = build_providers(settings)
    painter, speech = ControlledPainter(providers.image), ControlledSpeech(providers.speech)
    providers.image, providers.speech = painter, speech
    with serving(create_app(settings, providers)) as url:
        yield LiveService(url, painter, speech)
        painter.valve.open()
        speech.valve.open()


@pytest.fixture
def open_page(chromium_browser, live_service):
    """open_page(width=1280, height=900) -> a fresh page (own storage) at the service; uncaught JS errors fail the test."""
    contexts, errors = [], []

    def factory(width: int = 1280, height: int = 900):
        context = chromium_browser.new_context(viewport={"width": width, "height": height}, locale="en-US", base_url=live_service.url)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield factory
    for context in contexts:
        context.close()
    live_service.painter.valve.open()
    live_service.speech.valve.open()
    live_service.painter.failure = None
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def page(open_page):
    return open_page()


def rendered_fonts(page, selector: str) -> list[dict]:
    """The fonts Chromium really drew ``selector``'s text with (DevTools' "Rendered fonts")."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    return cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]


def screenshot(page, name: str, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path
