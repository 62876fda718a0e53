"""The benchmarks still run: each one in --quick mode exits 0 and prints its one summary line.

No timing is asserted here (machines are noisy); the numbers live in docs/benchmarks.md.
Deselect with ``-m "not bench"``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.bench

SUMMARIES = {
    "compose_vs_moviepy.py": r"^compose .* niceness \d+ for all, median \[min-max\] of \d+ rounds.* ours [\d.]+ s / \d+ MiB .*moviepy/ours x[\d.]+ \[[\d.]+-[\d.]+\] \(target >= 5\).* ours/floor x[\d.]+ \[[\d.]+-[\d.]+\] \(target <= 1\.3\)$",
    "concurrent_renders.py": r"^concurrent_renders 3 renders x 2 shots 240p, .*niceness \d+ \(idle class behind when ranked\), median \[min-max\] of 1 rounds.*"
                             r"first/alone ranked x[\d.]+ \[[\d.]+-[\d.]+\], arrival order x[\d.]+ \[[\d.]+-[\d.]+\]; "
                             r"last/alone ranked x[\d.]+ \[[\d.]+-[\d.]+\], arrival order x[\d.]+ \[[\d.]+-[\d.]+\]$",
    "render_e2e.py": r"^render_e2e \d+ shots .*niceness \d+ for all, median \[min-max\] of \d+ rounds.*load [\d.]+ -> [\d.]+: "
                     r"360p 640x360 [\d.]+ s: render [\d.]+ s floor [\d.]+ s, render/floor x[\d.]+ \[[\d.]+-[\d.]+\], CPU render/floor x[\d.]+ \[[\d.]+-[\d.]+\], [\d.]+ s per output s$",
    "orchestration.py": r"^orchestration .* x[\d.]+ \(target <= 1\.10\).* sequential/parallel at \d+ shots x[\d.]+ \(target > 3; .*\)$",
    "api_load.py": r"^api_load .* p50 [\d.]+ ms p99 [\d.]+ ms, p99/50ms x[\d.]+ \(target < 1\);.*$",
    "gpu_keyframes.py": r"^gpu_keyframes (tiny|sdxl) \d+x\d+ \d+ steps \d+ shots, .* ours [\d.e+-]+ img/s \(cold start [\d.]+ s, .*\) "
                        r"naive [\d.e+-]+ img/s \(cold start [\d.]+ s, .*\) floor [\d.e+-]+ img/s .*; "
                        r"ours/naive x[\d.]+ \(target >= 3\), ours/floor [\d.]+$",
    "scale_out.py": r"^scale_out .* throughput \d+ renders x \d+ shots: 1 worker [\d.]+/min, 2 workers [\d.]+/min x[\d.]+ of linear, "
                    r"4 workers [\d.]+/min x[\d.]+ of linear; one \d+-shot render: 1 worker [\d.]+ s, 4 workers [\d.]+ s, "
                    r"speedup x[\d.]+, x[\d.]+ of linear$",
}


@pytest.mark.parametrize("script", sorted(SUMMARIES))
def test_benchmark_runs_in_quick_mode(script: str) -> None:
    if script == "compose_vs_moviepy.py":
        pytest.importorskip("moviepy", reason="pip install -r requirements-bench.txt")
        pytest.importorskip("psutil", reason="pip install -r requirements-bench.txt")
    if script == "gpu_keyframes.py":
        pytest.importorskip("diffusers", reason="needs requirements-gpu.txt")
    if script == "scale_out.py":
        from tests.servers.postgres import skip_reason
        from tests.servers.redis import INSTALL_HINT, redis_server_binary

        reason = INSTALL_HINT if redis_server_binary() is None else skip_reason()
        if reason is not None:
            pytest.skip(reason)
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout
    assert re.match(SUMMARIES[script], lines[0]), lines[0]


def test_soak_compares_two_services_side_by_side() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), "--minutes", "0.25", "--clients", "1", "--compare-heap"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    summaries = re.findall(r"^\[(.+?)\] soak 0.25 min, 1 clients: (\d+) operations \{'Success': \d+\}.* story2video_operations_running 0$",
                           result.stdout, re.MULTILINE)
    assert [label for label, _ in summaries] == ["as configured", "heap left to glibc"], result.stdout
    assert all(int(started) > 0 for _, started in summaries), result.stdout
    assert re.search(r"^heap released vs left to glibc: RSS at the end [\d.]+ vs [\d.]+ MiB \(x[\d.]+\); growth after warm-up "
                     r"[+-][\d.]+ vs [+-][\d.]+ MiB$", result.stdout, re.MULTILINE), result.stdout
