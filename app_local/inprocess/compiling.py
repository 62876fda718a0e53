"""torch.compile of the denoiser (DIFFUSERS_COMPILE): regional where the model allows, one compile at a time.

The denoiser compiles lazily, on its first call with each new input shape (picture size, batch size):
minutes for an SDXL UNet. Dynamo is not thread-safe, so every call that may compile (the first one of
a shape on a pipeline) holds one process-wide lock: several GPUs take turns compiling instead of
compiling at once. Models that name their repeated blocks (``_repeated_blocks``: Flux, Wan, ...)
compile only those blocks, once, which cuts the cold start; the others compile whole.

Dynamo's settings are per thread in torch 2.13, so the recompile limit is raised on the worker thread
that runs the pipeline; past it Dynamo silently falls back to eager for new shapes.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Any

COMPILE_LOCK = threading.Lock()
RECOMPILE_LIMIT = 64  # shapes per compiled function: sizes x batch sizes (halving adds a few)


def compile_denoiser(denoiser: Any) -> str:
    """Mark the denoiser (or its repeated blocks) for compilation in place; says which was done."""
    if getattr(denoiser, "_repeated_blocks", None) and hasattr(denoiser, "compile_repeated_blocks"):
        denoiser.compile_repeated_blocks()
        return f"regional: {', '.join(denoiser._repeated_blocks)}"
    denoiser.compile()
    return "whole module"


def raise_recompile_limit(torch: Any) -> None:
    """On the calling thread (the device's worker): Dynamo's overrides are thread-local."""
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)


class CompiledShapes:
    """The input shapes a compiled pipeline has already run; a call with a new one may compile."""

    def __init__(self) -> None:
        self._seen: set[Hashable] = set()

    @contextmanager
    def calling(self, shape: Hashable) -> Iterator[bool]:
        """Hold ``COMPILE_LOCK`` around a call with a shape not run before; yields whether it did."""
        if shape in self._seen:
            yield False
            return
        with COMPILE_LOCK:
            yield True
            self._seen.add(shape)  # only once a call has got through: a failed one compiles again next time
