"""Soak run: mixed create / regenerate / render / upload against a real service process for a fixed time,
sampling the server's memory (RSS) and open file handles; at the end no operation may be left running.

    .venv/bin/python bench/soak.py --minutes 20 --clients 4 [--compare-heap]

Prints, per service, one summary line: RSS (and its anonymous part: heap and stacks, not mapped
files) and open-handle counts after warm-up, at the half-way point and at the end, the end/half-way
ratios (growth once warm), and how many operations ran; the per-30-s RSS series follow on two more
lines. With --compare-heap a second service, with RELEASE_HEAP_MEMORY=false, gets the same load at
the same time, and a last line compares the two. The services use the preview backends (no model,
key or network) at a small frame size so the run exercises the service itself: operations, SQLite,
artifacts, FFmpeg runs, SSE. Every third round uploads a picture and regenerates a shot with it,
every fourth uploads a short tone as the render's music; both uploads are deleted afterwards.
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
from tests.uploads.media import picture, tone_wav  # noqa: E402

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
    uploads: int = 0

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


async def upload(client: httpx.AsyncClient, user_id: str, data: bytes, tally: Tally) -> str:
    response = await client.post("/api/v1/uploads", params={"user_id": user_id}, content=data)
    response.raise_for_status()
    tally.uploads += 1
    return response.json()["upload_id"]


async def delete_upload(client: httpx.AsyncClient, user_id: str, upload_id: str | None) -> None:
    if upload_id is not None:
        (await client.delete(f"/api/v1/uploads/{upload_id}", params={"user_id": user_id})).raise_for_status()


def random_picture(rng: random.Random) -> bytes:
    return picture("JPEG", (rng.randrange(200, 900), rng.randrange(200, 900)), tuple(rng.randrange(256) for _ in range(3)))


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
            user = f"u{index}"
            shot_id = rng.choice(created["result"]["shots"])["id"]
            regenerate = {"operation_id": op + "-g", "story_id": story, "shot_id": shot_id, "user_id": user, "detail": f"take {step}"}
            picture_id = await upload(client, user, random_picture(rng), tally) if step % 3 == 0 else None
            if picture_id is not None:
                regenerate["image_upload_id"] = picture_id
            await run_operation(client, "/api/v1/shot/regenerate", regenerate, tally)
            render = {"operation_id": op + "-r", "story_id": story, "user_id": user, "subtitles": rng.random() < 0.7, "music": rng.random() < 0.3}
            music_id = await upload(client, user, tone_wav(2.0, rng.uniform(200, 800)), tally) if step % 4 == 0 else None
            if music_id is not None:
                render["music_upload_id"] = music_id
            await run_operation(client, "/api/v1/video/render", render, tally)
            await delete_upload(client, user, picture_id)
            await delete_upload(client, user, music_id)


SAMPLE_EVERY_S = 30.0
HEAP_SETTING = "RELEASE_HEAP_MEMORY"


@dataclass
class Run:
    label: str
    service: ServiceProcess
    tally: Tally = field(default_factory=Tally)
    samples: list[tuple[int, int, int]] = field(default_factory=list)


async def soak(runs: list[Run], minutes: float, clients: int) -> None:
    """Drives ``clients`` clients against each service for ``minutes``, sampling (RSS KiB, anonymous RSS KiB,
    open handles) of every service each SAMPLE_EVERY_S."""
    deadline = time.monotonic() + minutes * 60
    workers = [asyncio.create_task(one_client(run.service.base, i, deadline, run.tally)) for run in runs for i in range(clients)]
    while True:
        for run in runs:
            run.samples.append(sample(run.service.process.pid))
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(min(SAMPLE_EVERY_S, max(0.0, deadline - time.monotonic())))
    await asyncio.gather(*workers)
    for run in runs:
        run.samples.append(sample(run.service.process.pid))


def running_operations(run: Run) -> str:
    metrics = httpx.get(f"{run.service.base}/metrics").text
    running = [line for line in metrics.splitlines() if line.startswith("story2video_operations_running ")]
    return running[0] if running else "story2video_operations_running ?"


def report(run: Run, minutes: float, clients: int, running: str) -> None:
    samples = run.samples
    warm, half, end = samples[min(2, len(samples) - 1)], samples[len(samples) // 2], samples[-1]
    print(
        f"[{run.label}] soak {minutes:g} min, {clients} clients: {run.tally.started} operations {run.tally.finished}, "
        f"{run.tally.rejected} told to retry, {run.tally.uploads} uploads; "
        f"RSS warm {warm[0] / 1024:.1f} / half-way {half[0] / 1024:.1f} / end {end[0] / 1024:.1f} MiB (end/half x{end[0] / half[0]:.3f}); "
        f"anonymous {warm[1] / 1024:.1f} / {half[1] / 1024:.1f} / {end[1] / 1024:.1f} MiB; "
        f"open handles {warm[2]} / {half[2]} / {end[2]} (end/half x{end[2] / half[2]:.2f}); {running}"
    )
    print(f"[{run.label}] RSS MiB every 30 s: " + " ".join(f"{rss / 1024:.0f}" for rss, _, _ in samples))
    print(f"[{run.label}] anonymous RSS MiB every 30 s: " + " ".join(f"{anonymous / 1024:.0f}" for _, anonymous, _ in samples))


def compare(released: Run, kept: Run) -> None:
    """Side by side: the service as configured against the same service with the heap left to glibc."""
    warm = min(2, len(released.samples) - 1)
    growth = [(run.samples[-1][0] - run.samples[warm][0]) / 1024 for run in (released, kept)]
    print(
        f"heap released vs left to glibc: RSS at the end {released.samples[-1][0] / 1024:.1f} vs {kept.samples[-1][0] / 1024:.1f} MiB "
        f"(x{released.samples[-1][0] / kept.samples[-1][0]:.2f}); growth after warm-up {growth[0]:+.1f} vs {growth[1]:+.1f} MiB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--compare-heap", action="store_true", help=f"also soak, side by side, a service with {HEAP_SETTING}=false"
    )
    args = parser.parse_args()
    variants = [("as configured", {})] + ([("heap left to glibc", {HEAP_SETTING: "false"})] if args.compare_heap else [])
    with tempfile.TemporaryDirectory(prefix="s2v-soak-") as data:
        runs = []
        try:
            for index, (label, env) in enumerate(variants):
                (Path(data) / str(index)).mkdir()
                service = ServiceProcess(
                    Path(data) / str(index), DEFAULT_RESOLUTION="240", DEFAULT_FPS="12", MAX_QUEUED_OPERATIONS="8", LOG_LEVEL="WARNING", **env
                )
                runs.append(Run(label, service))
            for run in runs:
                run.service.wait_healthy()
            asyncio.run(soak(runs, args.minutes, args.clients))
            running = [running_operations(run) for run in runs]
        finally:
            for run in runs:
                run.service.stop()
    for run, unfinished in zip(runs, running):
        report(run, args.minutes, args.clients, unfinished)
    if args.compare_heap:
        compare(*runs)
    ok = all(set(run.tally.finished) <= {"Success"} for run in runs) and all(line.endswith(" 0") for line in running)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
