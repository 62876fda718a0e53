"""API under load: 200 clients polling GET /api/v1/operations/{id} and 50 holding SSE streams while
renders run, against the real service process (preview backends, small frames).

    .venv/bin/python bench/api_load.py            # 60 s of load
    .venv/bin/python bench/api_load.py --quick    # 8 s of load, 100 pollers, 25 streams

A driver keeps creating stories and rendering them (create + render, one after another, two drivers),
so FFmpeg, SQLite writes and event fan-out run all the time. Each poller GETs one of the latest
operations once per second (random phase), like a polling web page; each SSE client reads one
operation's stream to its end and then, a second later, opens the latest one. The client is aiohttp in this process;
latency is measured from sending the request to having read the whole body. The client's own event
loop lag is sampled too and printed, so a slow client can be told from a slow server.
Prints one summary line: p50 / p99 of the GETs and p99 / 50 ms (target < 1).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.serverproc import ServiceProcess  # noqa: E402

SCRIPT = "清晨，小镇的钟声响起。少女推开木窗，望见远山的薄雾。她背起画板走向河边。河面上漂着一只纸船。夜里，她听见了海浪。"
TARGET_P99_S = 0.050


class Load:
    def __init__(self) -> None:
        self.latest: list[str] = []  # operation ids, newest last
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.events = 0
        self.operations = 0
        self.lag: list[float] = []

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


async def operation(session: aiohttp.ClientSession, path: str, body: dict, load: Load) -> None:
    async with session.post(path, json=body, headers={"Prefer": "respond-async"}) as response:
        if response.status == 429:
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
            return
        if response.status != 202:
            load.error(f"POST {response.status}")
            return
    load.latest.append(body["operation_id"])
    del load.latest[:-4]
    while True:  # wait for it to finish (a light poll of its own)
        async with session.get(f"/api/v1/operations/{body['operation_id']}") as response:
            status = (await response.json())["status"]
        if status not in ("Queued", "Running"):
            load.operations += 1
            return
        await asyncio.sleep(0.5)


async def driver(session: aiohttp.ClientSession, index: int, deadline: float, load: Load, once: bool = False) -> None:
    step = 0
    while time.monotonic() < deadline and not (once and step):
        step += 1
        story, op = f"load-{index}-{step}", f"op-{index}-{step}"
        create = {"operation_id": op + "-c", "story_id": story, "user_id": "u1", "script_content": SCRIPT, "style": "写实"}
        await operation(session, "/api/v1/storyboard/create", create, load)
        await operation(session, "/api/v1/video/render", {"operation_id": op + "-r", "story_id": story, "user_id": "u1"}, load)


async def poller(session: aiohttp.ClientSession, deadline: float, load: Load, rng: random.Random) -> None:
    await asyncio.sleep(rng.random())
    next_at = time.monotonic()
    while time.monotonic() < deadline:
        op = rng.choice(load.latest)
        start = time.perf_counter()
        try:
            async with session.get(f"/api/v1/operations/{op}") as response:
                await response.read()
                ok = response.status == 200
        except aiohttp.ClientError as exc:
            load.error(type(exc).__name__)
            ok = False
        if ok:
            load.latencies.append(time.perf_counter() - start)
        else:
            load.error("GET not 200")
        next_at += 1.0
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def streamer(session: aiohttp.ClientSession, deadline: float, load: Load) -> None:
    while time.monotonic() < deadline:
        op = load.latest[-1]
        try:
            timeout = aiohttp.ClientTimeout(total=max(1.0, deadline - time.monotonic()))
            async with session.get(f"/api/v1/operations/{op}/events", timeout=timeout) as response:
                async for line in response.content:
                    if line.startswith(b"event:"):
                        load.events += 1
        except (aiohttp.ClientError, asyncio.TimeoutError):
            pass
        await asyncio.sleep(1.0)  # like EventSource's reconnect delay; a finished operation's stream ends at once


async def lag_sampler(deadline: float, load: Load) -> None:
    while time.monotonic() < deadline:
        start = time.perf_counter()
        await asyncio.sleep(0.05)
        load.lag.append(time.perf_counter() - start - 0.05)


async def run(base: str, seconds: float, pollers: int, streams: int, idle: bool = False) -> Load:
    load = Load()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(base, connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        deadline = time.monotonic() + seconds + 3
        drivers = [asyncio.create_task(driver(session, i, deadline, load, once=idle)) for i in range(2)]
        if idle:  # one create + render each, finished before the load starts
            await asyncio.gather(*drivers)
        while not load.latest:
            await asyncio.sleep(0.05)
        rng = random.Random(7)
        measure_end = time.monotonic() + seconds
        tasks = [asyncio.create_task(poller(session, measure_end, load, random.Random(rng.random()))) for _ in range(pollers)]
        tasks += [asyncio.create_task(streamer(session, measure_end, load)) for _ in range(streams)]
        tasks.append(asyncio.create_task(lag_sampler(measure_end, load)))
        await asyncio.gather(*tasks)
        for task in drivers:
            task.cancel()
        await asyncio.gather(*drivers, return_exceptions=True)
    return load


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--pollers", type=int, default=200)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--idle", action="store_true", help="no renders during the load (the server alone)")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the service process (e.g. to try a setting)")
    args = parser.parse_args()
    seconds, pollers, streams = (8.0, 100, 25) if args.quick else (args.seconds, args.pollers, args.streams)
    with tempfile.TemporaryDirectory(prefix="s2v-bench-api-") as data:
        service = ServiceProcess(Path(data), DEFAULT_RESOLUTION="180", DEFAULT_FPS="12", LOG_LEVEL="WARNING",
                                 MAX_RUNNING_OPERATIONS="4", MAX_QUEUED_OPERATIONS="64",
                                 **dict(item.split("=", 1) for item in args.server_env))
        try:
            service.wait_healthy()
            print(f"  server pid {service.process.pid}", file=sys.stderr)
            load = asyncio.run(run(service.base, seconds, pollers, streams, args.idle))
        finally:
            service.stop()
    if not load.latencies:
        print("api_load: no successful GET", file=sys.stderr)
        return 1
    p50, p99 = statistics.median(load.latencies), percentile(load.latencies, 0.99)
    lag99 = percentile(load.lag, 0.99) if load.lag else 0.0
    print(
        f"api_load {seconds:g} s, {pollers} pollers (1/s each) + {streams} SSE streams, {'no renders' if args.idle else 'renders running'}: "
        f"{len(load.latencies)} GETs p50 {p50 * 1000:.1f} ms p99 {p99 * 1000:.1f} ms, p99/50ms x{p99 / TARGET_P99_S:.2f} (target < 1); "
        f"{load.operations} operations finished, {load.events} SSE events, client loop lag p99 {lag99 * 1000:.1f} ms, errors {load.errors or 0}"
    )
    return 0 if not load.errors else 1


if __name__ == "__main__":
    sys.exit(main())
