"""A wrapper that holds a provider call until the test opens the gate (deterministic mid-operation states)."""

from __future__ import annotations

import asyncio
import threading

from story2video.errors import OperationCancelled


class Gate:
    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    def open(self) -> None:
        self.opened.set()

    async def pass_through(self, ctx) -> None:
        self.entered.set()
        while not self.opened.is_set():
            if ctx.is_cancelled():
                raise OperationCancelled()
            await asyncio.sleep(0.01)


class GatedSpeech:
    def __init__(self, inner, gate: Gate):
        self.inner, self.gate = inner, gate
        self.backend, self.model = inner.backend, inner.model

    async def synthesize(self, request, dest, ctx):
        await self.gate.pass_through(ctx)
        return await self.inner.synthesize(request, dest, ctx)

    async def status(self):
        return await self.inner.status()


class GatedPainter:
    def __init__(self, inner, gate: Gate):
        self.inner, self.gate = inner, gate
        self.backend, self.model = inner.backend, inner.model

    async def generate(self, request, dest, ctx):
        await self.gate.pass_through(ctx)
        return await self.inner.generate(request, dest, ctx)

    async def status(self):
        return await self.inner.status()
