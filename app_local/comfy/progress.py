"""Overall progress of one prompt (0..1) from its websocket messages.

A prompt runs its nodes one after another; ``progress`` messages report steps inside the running
node (the sampler's steps, mostly). Progress is the share of the nodes to run that have finished,
plus the running node's share of its steps. It never goes backwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class PromptProgress:
    def __init__(self, node_count: int, report: Callable[[float], None]):
        self._to_run = max(1, node_count)
        self._report = report
        self._finished: set[str] = set()
        self._running: str | None = None
        self._step_share = 0.0
        self._reported = 0.0

    def on_cached(self, nodes: Any) -> None:
        """Cached nodes do not run: they leave the count."""
        if isinstance(nodes, list):
            self._to_run = max(1, self._to_run - len(nodes))

    def on_executing(self, node: Any) -> None:
        if self._running is not None:
            self._finished.add(self._running)
        self._running = str(node) if node is not None else None
        self._step_share = 0.0
        self._publish()

    def on_progress(self, value: Any, maximum: Any) -> None:
        if isinstance(value, (int, float)) and isinstance(maximum, (int, float)) and maximum > 0:
            self._step_share = min(1.0, max(0.0, value / maximum))
            self._publish()

    def _publish(self) -> None:
        share = min(1.0, (len(self._finished) + self._step_share) / self._to_run)
        if share > self._reported:
            self._reported = share
            self._report(share)
