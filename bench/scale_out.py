"""Scale-out: render throughput on 1, 2 and 4 workers, and one long render on 1 vs 4 workers, as
ratios against linear scaling.

    .venv/bin/python bench/scale_out.py            # 8 renders x 3 shots per worker count, one 24-shot render; 3 rounds, medians
    .venv/bin/python bench/scale_out.py --quick    # 4 renders x 2 shots, one 8-shot render, shorter latencies, one round

The cluster is real processes (tests/cluster/harness.py): one API (SERVICE_ROLE=api) and N workers
(SERVICE_ROLE=worker, WORKER_CONCURRENCY=1: a worker is one device doing one task at a time) over a
real Redis and a real PostgreSQL, all talking to a fake DashScope run as a process of its own whose
tasks take a fixed time (image 0.5 s, image-to-video 2 s; speech has no set delay). Frames are small
(144p, 12 fps) so the CPU work of each shot stays small next to those latencies.

Each measurement (a "variant") gets a fresh database, a fresh OUTPUT_DIR and freshly started workers,
so no variant reuses another's cached keyframes, clips or segments; Redis is flushed and every worker
is stopped between variants. The stories are created beforehand (untimed) on the variant's own workers.

- throughput: R renders submitted at once (``Prefer: respond-async``); from just before the first
  POST to the last render's finish (its ``updated_at``): renders per minute. Ratio to linear =
  throughput_N / (N * throughput_1), from the same round.
- long render: one render of many shots on 1 and on 4 workers; speedup = wall_1 / wall_4, ratio to
  linear = speedup / 4.

Every round runs every variant, interleaved (the order is reversed every other round); the printed
figures are medians over rounds (a ratio is computed within its round, then the median taken). An
untimed warm-up render runs first so the fake's one-off clip encode and cold imports count nowhere.
Run the whole command under one ``nice`` so every variant shares it. Prints one summary line.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.cluster.harness import TERMINAL, Api, Cluster, FakeDashScopeProcess, create_body, task_seconds  # noqa: E402
from tests.servers.postgres import PostgresServer, skip_reason  # noqa: E402
from tests.servers.redis import INSTALL_HINT as REDIS_HINT  # noqa: E402
from tests.servers.redis import RedisServer, redis_server_binary  # noqa: E402

ASYNC = {"Prefer": "respond-async"}
WORKER_COUNTS = (1, 2, 4)
LONG_WORKERS = 4


@dataclass(frozen=True)
class Plan:
    renders: int  # renders submitted at once in a throughput variant
    shots: int  # shots of each of those renders
    long_shots: int  # shots of the long render
    image_s: float
    video_s: float
    rounds: int


@dataclass
class Results:
    throughput: dict[int, list[float]] = field(default_factory=lambda: {n: [] for n in WORKER_COUNTS})  # renders/min per round
    long_wall: dict[int, list[float]] = field(default_factory=lambda: {1: [], LONG_WORKERS: []})  # seconds per round

    def throughput_ratios(self, workers: int) -> list[float]:
        return [t / (workers * one) for t, one in zip(self.throughput[workers], self.throughput[1])]

    def speedups(self) -> list[float]:
        return [one / many for one, many in zip(self.long_wall[1], self.long_wall[LONG_WORKERS])]


def script(sentences: int) -> str:
    """A script of ``sentences`` sentences of one length: every narration, so every clip, lasts as long."""
    return " ".join(f"Scene {n + 1:02d}: the fox walks on through the quiet forest." for n in range(sentences))


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


class Bench:
    """The servers shared by the whole run, and one fresh cluster per variant."""

    def __init__(self, tmp: Path, plan: Plan):
        self.tmp = tmp
        self.plan = plan
        self.redis: RedisServer | None = None
        self.postgres: PostgresServer | None = None
        self.fake: FakeDashScopeProcess | None = None
        self.variants = 0

    def start(self) -> None:
        self.redis = RedisServer(self.tmp)
        self.redis.start()
        self.postgres = PostgresServer()  # its own folder under /tmp: the server may run as another user
        self.postgres.start()
        self.fake = FakeDashScopeProcess(self.tmp, "--image-seconds", f"{self.plan.image_s:g}", "--video-seconds", f"{self.plan.video_s:g}")

    def close(self) -> None:
        if self.fake is not None:
            self.fake.stop()
        if self.redis is not None:
            self.redis.kill()
        if self.postgres is not None:
            self.postgres.remove()

    def variant(self, name: str, workers: int, stories: int, shots: int) -> float:
        """Start ``workers`` workers and an API on fresh state, create ``stories`` stories of ``shots``
        shots (untimed), then render them all at once; the seconds from submission to the last finish."""
        assert self.redis is not None and self.postgres is not None and self.fake is not None
        self.variants += 1
        root = self.tmp / f"v{self.variants:02d}-{name}"
        cluster = Cluster(root, self.postgres.create_database(), self.redis.url, **self.fake.settings_env(), WORKER_CONCURRENCY="1")
        try:
            started = [cluster.worker(wait=False) for _ in range(workers)]
            api = cluster.api()
            for worker in started:
                worker.wait_for_line(r"@story2video ready\.", timeout=120)
            self._create(api, stories, shots)
            began = time.time()
            for n in range(stories):
                answer = api.call("POST", "/video/render", json={"operation_id": f"op-r{n}", "story_id": f"st-{n}", "user_id": "u1"}, headers=ASYNC)
                if answer.status_code != 202:
                    raise RuntimeError(f"render {n} refused: {answer.status_code} {answer.text}")
            finished = self._wait_all(api, [f"op-r{n}" for n in range(stories)], cluster)
            wall = max(op["updated_at"] for op in finished) - began
            took = [task_seconds(worker.output()) for worker in started]
            spread = [len(seconds.get("shot_media", [])) for seconds in took]
            medians = ", ".join(
                f"{task} {statistics.median(every):.2f} s" for task in ("shot_media", "shot_segment", "join_render")
                if (every := [s for seconds in took for s in seconds.get(task, [])])
            )  # fmt: skip
            log(f"{name}: {workers} worker(s), {stories} render(s) x {shots} shots in {wall:.2f} s "
                f"(shots per worker {spread}; task medians: {medians})")
        finally:
            cluster.close()
        self.redis.client().flushall()  # no task, result or event of this variant is seen by the next
        shutil.rmtree(root, ignore_errors=True)
        return wall

    def _create(self, api: Api, stories: int, shots: int) -> None:
        for n in range(stories):
            body = create_body(f"op-c{n}", story_id=f"st-{n}", script=script(shots), shot_count=shots)
            answer = api.call("POST", "/storyboard/create", json=body, headers=ASYNC)
            if answer.status_code != 202:
                raise RuntimeError(f"create {n} refused: {answer.status_code} {answer.text}")
        for n in range(stories):
            op = api.wait_status(f"op-c{n}", timeout=300)
            if op["status"] != "Success":
                raise RuntimeError(f"create {n} ended {op['status']}: {op}")

    def _wait_all(self, api: Api, operation_ids: list[str], cluster: Cluster, timeout: float = 900.0) -> list[dict]:
        """The finished operations. The finish time is each one's ``updated_at``, so polling can be slow and
        light (one GET a second while the first unfinished one runs), taking little CPU from the cluster."""
        deadline = time.monotonic() + timeout
        pending, finished = list(operation_ids), []
        while pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"renders {pending} unfinished after {timeout:g} s:\n{cluster.logs_text()}")
            time.sleep(1.0)
            while pending:
                op = api.operation(pending[0])
                if op["status"] not in TERMINAL:
                    break
                if op["status"] != "Success":
                    raise RuntimeError(f"render {pending[0]} ended {op['status']}: {op}\n{cluster.logs_text()}")
                finished.append(op)
                pending.pop(0)
        return finished


def run_round(bench: Bench, results: Results, round_: int) -> None:
    plan = bench.plan
    variants = [("throughput", n) for n in WORKER_COUNTS] + [("long", n) for n in (1, LONG_WORKERS)]
    if round_ % 2:
        variants.reverse()
    for kind, workers in variants:
        name = f"r{round_ + 1}-{kind}-{workers}w"
        if kind == "throughput":
            wall = bench.variant(name, workers, plan.renders, plan.shots)
            results.throughput[workers].append(plan.renders / wall * 60)
        else:
            results.long_wall[workers].append(bench.variant(name, workers, 1, plan.long_shots))


def summary(plan: Plan, results: Results) -> str:
    median = statistics.median
    throughput = [f"1 worker {median(results.throughput[1]):.2f}/min"]
    for workers in WORKER_COUNTS[1:]:
        throughput.append(f"{workers} workers {median(results.throughput[workers]):.2f}/min x{median(results.throughput_ratios(workers)):.2f} of linear")
    speedup = median(results.speedups())
    return (
        f"scale_out (fake DashScope image {plan.image_s:g} s video {plan.video_s:g} s, WORKER_CONCURRENCY 1, 144p, "
        f"nice {os.nice(0)}, {os.cpu_count()} cores, median of {plan.rounds}): "
        f"throughput {plan.renders} renders x {plan.shots} shots: {', '.join(throughput)}; "
        f"one {plan.long_shots}-shot render: 1 worker {median(results.long_wall[1]):.2f} s, "
        f"{LONG_WORKERS} workers {median(results.long_wall[LONG_WORKERS]):.2f} s, speedup x{speedup:.2f}, x{speedup / LONG_WORKERS:.2f} of linear"
    )


def missing_servers() -> str | None:
    if redis_server_binary() is None:
        return REDIS_HINT
    return skip_reason()


def _terminate(signum: int, _: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the clean-up below


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 renders x 2 shots, an 8-shot render, latencies image 0.2 s video 0.5 s, one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--renders", type=int, default=8, help="renders submitted at once per throughput variant")
    parser.add_argument("--shots", type=int, default=3, help="shots of each of those renders")
    parser.add_argument("--long-shots", type=int, default=24, help="shots of the long render")
    parser.add_argument("--image-seconds", type=float, default=0.5)
    parser.add_argument("--video-seconds", type=float, default=2.0)
    args = parser.parse_args()
    reason = missing_servers()
    if reason is not None:
        print(f"scale_out: cannot run here: {reason}", file=sys.stderr)
        return 2
    if args.quick:
        plan = Plan(renders=4, shots=2, long_shots=8, image_s=0.2, video_s=0.5, rounds=1)
    else:
        plan = Plan(args.renders, args.shots, args.long_shots, args.image_seconds, args.video_seconds, args.rounds)
    signal.signal(signal.SIGTERM, _terminate)
    results = Results()
    with tempfile.TemporaryDirectory(prefix="s2v-bench-scale-") as tmp:
        bench = Bench(Path(tmp), plan)
        try:
            bench.start()
            bench.variant("warm-up", 1, 1, 1)
            for round_ in range(plan.rounds):
                run_round(bench, results, round_)
        finally:
            bench.close()
    print(summary(plan, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
