"""Soak run: mixed create / regenerate / render against a real service process for a fixed time,
sampling the server's memory (RSS) and open file handles; at the end no operation may be left running.

    .venv/bin/python bench/soak.py --minutes 20 --clients 4

Prints one summary line: RSS (and its anonymous part: heap and stacks, not mapped files) and
open-handle counts after warm-up, at the half-way point and at the end, the end/half-way ratios
(growth once warm), and how many operations ran; the per-30-s RSS series follow on two more lines. The process uses the preview backends (no model, key or network) at a small
frame size so the run exercises the service itself: operations, SQLite, artifacts, FFmpeg runs, SSE.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.serverproc import ServiceProcess  # noqa: E402

SCRIPTS = [
    "清晨，小镇的钟声响起。少女推开木窗，望见远山的薄雾。她背起画板走向河边。河面上漂着一只纸船。",
    "The lighthouse keeper climbed the stairs. A storm was coming from the west. He lit the lamp. Far away, a ship turned home.",
    "夜里，萤火虫照亮了河岸。她终于听见了海浪的声音。她轻轻放下纸船。看着它漂向远方。",
]


@dataclass
class Tally:
    started: int = 0
    finished: dict[str, int] = field(default_factory=dict)
    rejected: int = 0

    def count(self, status: str) -> None:
        self.finished[status] = self.finished.get(status, 0) + 1


def sample(pid: int) -> tuple[int, int, int]:
    """(RSS in KiB, its anonymous part (heap, stacks) in KiB, open file descriptors) of the process."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    rss, anonymous = (int(status[key].split()[0]) for key in ("VmRSS", "RssAnon"))
    return rss, anonymous, len(list(Path(f"/proc/{pid}/fd").iterdir()))


async def run_operation(client: httpx.AsyncClient, path: str, body: dict, tally: Tally) -> dict | None:
    response = await client.post(path, json=body, headers={"Prefer": "respond-async"})
    if response.status_code == 429:
        tally.rejected += 1
        await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
        return None
    response.raise_for_status()
    tally.started += 1
    operation_id = body["operation_id"]
    async with client.stream("GET", f"/api/v1/operations/{operation_id}/events") as events:
        async for _ in events.aiter_lines():
            pass  # the stream ends after the terminal event
    operation = (await client.get(f"/api/v1/operations/{operation_id}")).json()
    tally.count(operation["status"])
    return operation


async def one_client(base: str, index: int, deadline: float, tally: Tally) -> None:
    rng = random.Random(index)
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        step = 0
        while time.monotonic() < deadline:
            step += 1
            story = f"soak-{index}-{step % 5}"
            op = f"op-{index}-{step}"
            created = await run_operation(
                client,
                "/api/v1/storyboard/create",
                {"operation_id": op + "-c", "story_id": story, "user_id": f"u{index}", "script_content": rng.choice(SCRIPTS), "style": rng.choice(["写实", "动漫", "水墨"])},
                tally,
            )
            if not created or created["status"] != "Success":
                continue
            shot_id = rng.choice(created["result"]["shots"])["id"]
            regenerate = {"operation_id": op + "-g", "story_id": story, "shot_id": shot_id, "user_id": f"u{index}", "detail": f"take {step}"}
            await run_operation(client, "/api/v1/shot/regenerate", regenerate, tally)
            render = {"operation_id": op + "-r", "story_id": story, "user_id": f"u{index}", "subtitles": rng.random() < 0.7, "music": rng.random() < 0.3}
            await run_operation(client, "/api/v1/video/render", render, tally)


SAMPLE_EVERY_S = 30.0


async def soak(base: str, pid: int, minutes: float, clients: int) -> tuple[list[tuple[int, int, int]], Tally]:
    """Samples of (RSS KiB, anonymous RSS KiB, open handles) every SAMPLE_EVERY_S while the clients run, and the tally."""
    tally = Tally()
    deadline = time.monotonic() + minutes * 60
    workers = [asyncio.create_task(one_client(base, i, deadline, tally)) for i in range(clients)]
    samples = [sample(pid)]
    while time.monotonic() < deadline:
        await asyncio.sleep(min(SAMPLE_EVERY_S, max(0.0, deadline - time.monotonic())))
        samples.append(sample(pid))
    await asyncio.gather(*workers)
    samples.append(sample(pid))
    return samples, tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="s2v-soak-") as data:
        service = ServiceProcess(Path(data), DEFAULT_RESOLUTION="240", DEFAULT_FPS="12", MAX_QUEUED_OPERATIONS="8", LOG_LEVEL="WARNING")
        try:
            service.wait_healthy()
            samples, tally = asyncio.run(soak(service.base, service.process.pid, args.minutes, args.clients))
            unfinished = httpx.get(f"{service.base}/metrics").text
        finally:
            service.stop()
    running = [line for line in unfinished.splitlines() if line.startswith("story2video_operations_running ")]
    warm, half, end = samples[min(2, len(samples) - 1)], samples[len(samples) // 2], samples[-1]
    print(
        f"soak {args.minutes:g} min, {args.clients} clients: {tally.started} operations {tally.finished}, {tally.rejected} told to retry; "
        f"RSS warm {warm[0] / 1024:.1f} / half-way {half[0] / 1024:.1f} / end {end[0] / 1024:.1f} MiB (end/half x{end[0] / half[0]:.3f}); "
        f"anonymous {warm[1] / 1024:.1f} / {half[1] / 1024:.1f} / {end[1] / 1024:.1f} MiB; "
        f"open handles {warm[2]} / {half[2]} / {end[2]} (end/half x{end[2] / half[2]:.2f}); {running[0] if running else 'running ?'}"
    )
    print("RSS MiB every 30 s: " + " ".join(f"{rss / 1024:.0f}" for rss, _, _ in samples))
    print("anonymous RSS MiB every 30 s: " + " ".join(f"{anonymous / 1024:.0f}" for _, anonymous, _ in samples))
    ok = set(tally.finished) <= {"Success"} and running == ["story2video_operations_running 0"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
