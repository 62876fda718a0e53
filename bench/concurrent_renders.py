"""Concurrent renders: does the first of several renders submitted together finish about as fast as alone?

    .venv/bin/python bench/concurrent_renders.py            # 4 renders of 4 shots at 480p, 2 rounds
    .venv/bin/python bench/concurrent_renders.py --quick    # 3 renders of 2 shots at 240p, one round

The real service (``create_app`` with the preview backends, as ``bench/render_e2e.py`` runs it) with
four stories created beforehand. Each round, side by side:

- alone: the first story rendered by itself;
- ranked: the service as it is (compose slots first come, first served; ``pipeline/slots.py``): the N
  renders are submitted 0.2 s apart, and each one's time from its submission to its answer is noted;
- arrival order: the same with the scheduling from before this work: the compose slots a plain
  semaphore (any waiting segment of any render gets the next free slot) and every operation's work
  at the same priority (``story2video.turns`` told that no operation is ever behind another).

Every render uses a fresh output folder (nothing cached). The service runs as deployed: its own
Python code at the niceness it was started with, its FFmpeg at ``FFMPEG_NICENESS``; in the ranked mode,
the FFmpeg runs of a render submitted after one still running in the idle class, and its preview
backends' eSpeak and card painting at ``BEHIND_NICENESS`` (``story2video/turns.py``). Prints the first render's time over its time alone (median and [min-max] over the
rounds) in both modes, and the last render's, with the load average at the start and end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402

import story2video.app as app_module  # noqa: E402
from app_api import build_providers  # noqa: E402
from story2video.logs import configure_logging  # noqa: E402
from story2video.media.ffmpeg import FFMPEG_NICENESS  # noqa: E402
from story2video.pipeline.slots import RankedSlots  # noqa: E402
from story2video.turns import Turns, turns  # noqa: E402
from tests.conftest import small_settings  # noqa: E402

SCRIPT = "清晨，少女推开木窗，望见远山的薄雾。她背起画板走向河边。河面上漂着一只纸船。夜里，她听见了海浪的声音。"
STAGGER_S = 0.2


class ArrivalOrderSlots:
    """The compose slots as a plain semaphore: the rank is ignored."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._slots = asyncio.Semaphore(capacity)

    @asynccontextmanager
    async def slot(self, first_come: float, seconds: float = 0.0) -> AsyncIterator[None]:
        async with self._slots:
            yield


def run_renders(root: Path, renders: int, shots: int, resolution: int, slots: type) -> list[float]:
    """Seconds from submission to answer of each of ``renders`` renders, submitted STAGGER_S apart."""
    app_module.RankedSlots = slots  # type: ignore[attr-defined]
    turns.behind = Turns.behind.__get__(turns) if slots is RankedSlots else (lambda ctx: False)  # type: ignore[method-assign]
    try:
        settings = small_settings(root, default_resolution=resolution, default_fps=24, compose_workers=0,
                                  max_running_operations=renders)
        client_cm = TestClient(app_module.create_app(settings, build_providers(settings)))
    finally:
        app_module.RankedSlots = RankedSlots  # type: ignore[attr-defined]
    seconds = [0.0] * renders
    failures: list[str] = []
    with client_cm as client:
        for n in range(renders):
            created = client.post("/api/v1/storyboard/create", json={
                "operation_id": f"op-c{n}", "story_id": f"story-{n}", "user_id": "u-1", "style": "写实",
                "script_content": SCRIPT, "shot_count": shots})
            if created.status_code != 200:
                raise SystemExit(f"storyboard failed: {created.text[:500]}")

        def render(n: int) -> None:
            began = time.perf_counter()
            answer = client.post("/api/v1/video/render", json={
                "operation_id": f"op-r{n}", "story_id": f"story-{n}", "user_id": "u-1", "aspect_ratio": "16:9"})
            seconds[n] = time.perf_counter() - began
            if answer.status_code != 200:
                failures.append(f"render {n} failed: {answer.text[:500]}")

        threads = []
        for n in range(renders):
            thread = threading.Thread(target=render, args=(n,))
            thread.start()
            threads.append(thread)
            time.sleep(STAGGER_S)
        for thread in threads:
            thread.join()
    if failures:
        raise SystemExit("\n".join(failures))
    return seconds


def spread(values: list[float]) -> str:
    return f"x{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 renders of 2 shots at 240p, one round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--renders", type=int, default=4)
    args = parser.parse_args()
    renders, shots, resolution, rounds = (3, 2, 240, 1) if args.quick else (args.renders, 4, 480, args.rounds)
    configure_logging("WARNING")
    load_before = os.getloadavg()
    first = {"ranked": [], "arrival": []}
    last = {"ranked": [], "arrival": []}
    alone_times = []
    with tempfile.TemporaryDirectory(prefix="s2v-bench-concurrent-") as tmp:
        run_renders(Path(tmp) / "warm-up", 1, 1, 144, RankedSlots)
        for round_ in range(rounds):
            alone = run_renders(Path(tmp) / f"alone-{round_}", 1, shots, resolution, RankedSlots)[0]
            alone_times.append(alone)
            modes = [("ranked", RankedSlots), ("arrival", ArrivalOrderSlots)]
            for mode, slots in modes if round_ % 2 == 0 else modes[::-1]:
                times = run_renders(Path(tmp) / f"{mode}-{round_}", renders, shots, resolution, slots)
                first[mode].append(times[0] / alone)
                last[mode].append(times[-1] / alone)
                print(f"  round {round_ + 1} {mode:8s} alone {alone:.2f} s, each: "
                      + " ".join(f"{t:.2f}" for t in times), file=sys.stderr)
    load_after = os.getloadavg()
    print(f"concurrent_renders {renders} renders x {shots} shots {resolution}p, submitted {STAGGER_S:g} s apart, "
          f"FFmpeg at niceness {FFMPEG_NICENESS} (idle class behind when ranked), median [min-max] of {rounds} rounds, {os.cpu_count()} cores, "
          f"load {load_before[0]:.2f} -> {load_after[0]:.2f}: alone {statistics.median(alone_times):.2f} s; "
          f"first/alone ranked {spread(first['ranked'])}, arrival order {spread(first['arrival'])}; "
          f"last/alone ranked {spread(last['ranked'])}, arrival order {spread(last['arrival'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
