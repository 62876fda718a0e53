"""End to end: the real service renders a story with its preview backends, against one x264 pass over
exactly the frames and sound it wrote.

    .venv/bin/python bench/render_e2e.py              # 6 shots, 720p and 1080p, 24 fps, crossfade 0.5 s, 3 rounds
    .venv/bin/python bench/render_e2e.py --quick      # 3 shots at 360p, one round

- render: ``create_app(settings, build_providers(settings))`` as ``tests/conftest.py`` builds it, served in
  this process through Starlette's TestClient; a storyboard is created (preview writer), then
  ``POST /api/v1/video/render`` is timed: narration (eSpeak NG), title-card keyframes, Ken Burns moves,
  segments and the join, all of the service's own work. Every round uses a fresh output folder, so
  nothing is reused from a cache.
- floor: the rendered MP4 decoded beforehand (untimed) to raw yuv420p and WAV, then encoded once by
  one ``ffmpeg`` with the service's own encoder arguments: what x264 alone costs for these pictures.

The whole benchmark runs at the niceness the service gives its FFmpeg runs (``FFMPEG_NICENESS``), so
every variant runs at the same priority. Ratios are taken within each round (render and floor side by
side); the summary gives their median and spread (min-max) over the rounds, render/floor (target <= 1.4
at 720p) and the render's seconds per second of output, with the load average at the start and end.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402

from app_api import build_providers  # noqa: E402
from story2video.app import create_app  # noqa: E402
from story2video.logs import configure_logging  # noqa: E402
from story2video.media.encoding import RenderProfile, audio_args, video_args  # noqa: E402
from story2video.media.ffmpeg import FFMPEG_NICENESS, locate_ffmpeg  # noqa: E402
from story2video.media.probe import probe  # noqa: E402
from tests.conftest import small_settings  # noqa: E402

SCRIPT = ("清晨，小镇的钟声响起，少女推开木窗，望见远山的薄雾。她背起画板，沿着青石小路走向河边。"
          "河面上漂着一只纸船，船上写着一行小字。她小心地捧起纸船，决定跟着河流出发。"
          "她穿过稻田，越过石桥，天色渐渐暗了下来。夜里，萤火虫照亮了河岸，她听见了海浪的声音。")


def cpu_seconds() -> float:
    """CPU time of this process (the service's threads) and of the children it waited for (FFmpeg)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def render_once(root: Path, shots: int, resolution: int, fps: int, crossfade: float) -> tuple[float, float, Path]:
    """(seconds the render request took, CPU seconds it used, the MP4 it wrote) with a fresh service under ``root``."""
    settings = small_settings(root, default_resolution=resolution, default_fps=fps, compose_workers=0)
    with TestClient(create_app(settings, build_providers(settings))) as client:
        created = client.post("/api/v1/storyboard/create", json={
            "operation_id": "op-c", "story_id": "story-1", "user_id": "u-1", "style": "写实",
            "script_content": SCRIPT, "shot_count": shots})
        if created.status_code != 200 or len(created.json()["shots"]) != shots:
            raise SystemExit(f"storyboard failed: {created.text[:500]}")
        began, cpu_began = time.perf_counter(), cpu_seconds()
        rendered = client.post("/api/v1/video/render", json={
            "operation_id": "op-r", "story_id": "story-1", "user_id": "u-1", "aspect_ratio": "16:9",
            "resolution": resolution, "fps": fps, "crossfade": crossfade})
        seconds, cpu = time.perf_counter() - began, cpu_seconds() - cpu_began
        if rendered.status_code != 200:
            raise SystemExit(f"render failed: {rendered.text[:500]}")
        video = client.get(rendered.json()["video_url"])
        if video.status_code != 200:
            raise SystemExit(f"could not fetch the video: {video.status_code}")
    out = root / "final.mp4"
    out.write_bytes(video.content)
    return seconds, cpu, out


def floor_once(video: Path, profile: RenderProfile, folder: Path) -> tuple[float, float]:
    """(seconds, CPU seconds) one ffmpeg takes to encode ``video``'s own frames and sound, decoded beforehand."""
    ffmpeg = str(locate_ffmpeg())
    raw, wav = folder / "frames.yuv", folder / "sound.wav"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(video), "-f", "rawvideo", "-pix_fmt", "yuv420p", str(raw),
                    "-vn", "-f", "wav", str(wav)], check=True)
    args = [ffmpeg, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{profile.width}x{profile.height}",
            "-framerate", str(profile.fps), "-i", str(raw), "-i", str(wav)]
    for key, value in {**video_args(profile), **audio_args(profile)}.items():
        args += [f"-{key}", str(value)]
    began, cpu_began = time.perf_counter(), cpu_seconds()
    subprocess.run([*args, str(folder / "floor.mp4")], check=True)
    seconds, cpu = time.perf_counter() - began, cpu_seconds() - cpu_began
    raw.unlink()
    return seconds, cpu


def spread(values: list[float]) -> str:
    return f"x{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 shots at 360p, one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shots", type=int, default=6)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--crossfade", type=float, default=0.5)
    parser.add_argument("--resolutions", type=int, nargs="+", default=[720, 1080])
    args = parser.parse_args()
    shots, resolutions, rounds = (3, [360], 1) if args.quick else (args.shots, args.resolutions, args.rounds)
    os.setpriority(os.PRIO_PROCESS, 0, max(os.getpriority(os.PRIO_PROCESS, 0), FFMPEG_NICENESS))
    configure_logging("WARNING")
    load_before = os.getloadavg()
    parts = []
    with tempfile.TemporaryDirectory(prefix="s2v-bench-e2e-") as tmp:
        render_once(Path(tmp) / "warm-up", 2, 180, 12, 0.0)  # imports, fonts, eSpeak: not part of any round
        for resolution in resolutions:
            ratios, cpu_ratios, per_second, renders, floors = [], [], [], [], []
            for round_ in range(rounds):
                folder = Path(tmp) / f"{resolution}-{round_}"
                render_s, render_cpu, video = render_once(folder, shots, resolution, args.fps, args.crossfade)
                info = probe(locate_ffmpeg(), video)
                assert info.video is not None
                profile = RenderProfile(width=info.video.width, height=info.video.height, fps=args.fps)
                floor_s, floor_cpu = floor_once(video, profile, folder)
                ratios.append(render_s / floor_s)
                cpu_ratios.append(render_cpu / floor_cpu)
                per_second.append(render_s / info.duration)
                renders.append(render_s)
                floors.append(floor_s)
                print(f"  {resolution}p round {round_ + 1}: render {render_s:.2f} s, floor {floor_s:.2f} s, "
                      f"output {info.duration:.2f} s, render/floor x{render_s / floor_s:.2f}; "
                      f"CPU render {render_cpu:.2f} s floor {floor_cpu:.2f} s", file=sys.stderr)
            target = " (target <= 1.4)" if resolution == 720 else ""
            parts.append(f"{resolution}p {info.video.width}x{info.video.height} {info.duration:.1f} s: "
                         f"render {statistics.median(renders):.2f} s floor {statistics.median(floors):.2f} s, "
                         f"render/floor {spread(ratios)}{target}, CPU render/floor {spread(cpu_ratios)}, "
                         f"{statistics.median(per_second):.3f} s per output s")
    load_after = os.getloadavg()
    print(f"render_e2e {shots} shots @{args.fps} crossfade {args.crossfade:g} s, niceness {FFMPEG_NICENESS} for all, "
          f"median [min-max] of {rounds} rounds, {os.cpu_count()} cores, load {load_before[0]:.2f} -> {load_after[0]:.2f}: "
          + "; ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
