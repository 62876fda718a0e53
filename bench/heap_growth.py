"""Does the service keep Python objects per operation? tracemalloc over many operations in one process.

    .venv/bin/python bench/heap_growth.py --warmup 15 --operations 60

Runs create + render + an SSE read per operation through the ASGI app (preview backends, 144p),
then prints one summary line with the Python heap growth per operation, and the largest growths
with where they were allocated.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402

from app_api import build_providers  # noqa: E402
from story2video.app import create_app  # noqa: E402
from tests.conftest import create_body, small_settings  # noqa: E402

SCRIPTS = [
    "清晨，小镇的钟声响起。少女推开木窗，望见远山的薄雾。她背起画板走向河边。河面上漂着一只纸船。",
    "The lighthouse keeper climbed the stairs. A storm was coming. He lit the lamp. A ship turned home.",
]


def run(client: TestClient, first: int, last: int) -> None:
    for i in range(first, last):
        body = create_body(operation_id=f"c{i}", story_id=f"s{i % 5}", script_content=f"{SCRIPTS[i % 2]} {i}.")
        assert client.post("/api/v1/storyboard/create", json=body).status_code == 200
        render = {"operation_id": f"r{i}", "story_id": f"s{i % 5}", "user_id": "u-001", "subtitles": i % 3 == 0}
        assert client.post("/api/v1/video/render", json=render).status_code == 200
        with client.stream("GET", f"/api/v1/operations/r{i}/events") as events:
            for _ in events.iter_lines():
                pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=15)
    parser.add_argument("--operations", type=int, default=60)
    args = parser.parse_args()
    settings = small_settings(Path(tempfile.mkdtemp(prefix="s2v-heap-")), default_resolution=144, default_fps=6, log_level="WARNING")
    with TestClient(create_app(settings, build_providers(settings))) as client:
        # Traced from the start: objects the warm-up leaves in bounded caches (e.g. the 256 recently
        # finished operations) are then seen being freed as they are replaced, not only their successors.
        tracemalloc.start(25)
        run(client, 0, args.warmup)
        gc.collect()
        before = tracemalloc.take_snapshot()
        run(client, args.warmup, args.warmup + args.operations)
        gc.collect()
        stats = tracemalloc.take_snapshot().compare_to(before, "traceback")
    total = sum(stat.size_diff for stat in stats)
    print(f"heap growth over {args.operations} operations: {total / 1024:.0f} KiB ({total / args.operations / 1024:.1f} KiB per operation)")
    for stat in stats[:3]:
        print(f"  {stat.size_diff / 1024:.0f} KiB in {stat.count_diff} blocks at {stat.traceback.format()[-2].strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
