"""The pipelines one device keeps loaded: the few most recently used, and the loads that failed.

Loading a pipeline past DIFFUSERS_MAX_LOADED first evicts the least recently used one; a load that
runs out of memory while others are resident evicts them all and is tried once more. A load that fails
is remembered: jobs for that model fail at once with the same message until DIFFUSERS_LOAD_RETRY_S
have passed, then the next job tries again (0: every job tries).

Each resident pipeline remembers its components' dtypes, so a call that fails half-way (e.g. out of
memory inside an fp16 VAE that diffusers upcast to float32 for the decode) can be undone before the
next call: otherwise every later call fails with "Input type (Half) and weight type (Float)".
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from app_local.inprocess.compiling import CompiledShapes
from story2video.errors import describe_exception


@dataclass
class ResidentPipeline:
    pipe: Any
    dtypes: dict[str, Any]  # component name -> dtype at load
    models: set[str] = field(default_factory=set)  # manifest names served by it
    compiled: CompiledShapes = field(default_factory=CompiledShapes)

    def restore_dtypes(self) -> list[str]:
        """Cast back every component whose dtype changed; the names of those that had."""
        changed = []
        for name, dtype in self.dtypes.items():
            module = getattr(self.pipe, name, None)
            if module is not None and getattr(module, "dtype", dtype) != dtype:
                module.to(dtype=dtype)
                changed.append(name)
        return changed


@dataclass(frozen=True)
class LoadFailure:
    at: float
    message: str


class LoadFailedRecently(Exception):
    def __init__(self, failure: LoadFailure, retry_s: float):
        self.failure = failure
        self.retry_in_s = max(0.0, failure.at + retry_s - time.monotonic())
        super().__init__(failure.message)


class PipelineCache:
    """Touched by one worker thread only (``loaded_models`` reads a snapshot)."""

    def __init__(self, max_loaded: int, retry_s: float, free_memory: Callable[[], None], is_out_of_memory: Callable[[Exception], bool]):
        self._max_loaded = max_loaded
        self._retry_s = retry_s
        self._free_memory = free_memory
        self._is_out_of_memory = is_out_of_memory
        self._resident: OrderedDict[Hashable, ResidentPipeline] = OrderedDict()
        self._failures: dict[Hashable, LoadFailure] = {}
        self.models: frozenset[str] = frozenset()  # replaced, never mutated: safe to read from other threads
        self.failed_models: dict[str, str] = {}  # manifest name -> load error, while it is remembered

    def get(self, key: Hashable, model: str, load: Callable[[], Any]) -> ResidentPipeline:
        resident = self._resident.get(key)
        if resident is None:
            resident = self._load(key, model, load)
        self._resident.move_to_end(key)
        resident.models.add(model)
        self._publish()
        return resident

    def _load(self, key: Hashable, model: str, load: Callable[[], Any]) -> ResidentPipeline:
        failure = self._failures.get(key)
        if failure is not None and time.monotonic() - failure.at < self._retry_s:
            raise LoadFailedRecently(failure, self._retry_s)
        while len(self._resident) >= self._max_loaded:
            self._evict_oldest()
        try:
            pipe = self._load_making_room(load)
        except Exception as exc:
            self._failures[key] = LoadFailure(time.monotonic(), describe_exception(exc, with_type=True))
            self.failed_models = {**self.failed_models, model: self._failures[key].message}
            raise
        self._failures.pop(key, None)
        self.failed_models = {name: error for name, error in self.failed_models.items() if name != model}
        resident = ResidentPipeline(pipe=pipe, dtypes=component_dtypes(pipe))
        self._resident[key] = resident
        return resident

    def _load_making_room(self, load: Callable[[], Any]) -> Any:
        try:
            return load()
        except Exception as exc:
            if not (self._resident and self._is_out_of_memory(exc)):
                raise
        logger.warning("out of memory loading a diffusers model; evicting {} other pipeline(s) and trying once more", len(self._resident))
        while self._resident:
            self._evict_oldest()
        return load()

    def _evict_oldest(self) -> None:
        _, resident = self._resident.popitem(last=False)
        logger.info("evicting diffusers model(s) {} (least recently used)", ", ".join(sorted(resident.models)))
        del resident
        self._free_memory()
        self._publish()

    def _publish(self) -> None:
        self.models = frozenset(name for resident in self._resident.values() for name in resident.models)


def component_dtypes(pipe: Any) -> dict[str, Any]:
    components = getattr(pipe, "components", {})
    return {name: module.dtype for name, module in components.items() if hasattr(module, "dtype") and hasattr(module, "to")}
