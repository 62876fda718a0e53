"""Orchestration: a full create + render through the real service code, with fake backends of fixed
latency speaking the real protocols, against the ideal critical-path time and a sequential baseline.

    .venv/bin/python bench/orchestration.py            # 8 and 24 shots, parallel and sequential, best of 2
    .venv/bin/python bench/orchestration.py --quick    # 8 shots, one round each, shorter latencies

Backends (each a real HTTP server of its own, as in the tests):
- storyboard: fake Ollama (/api/chat), answering after T_SB = 1 s;
- keyframes: 2 fake ComfyUI hosts running the model-free text-to-image workflow of the tests
  (4 executed nodes x 0.125 s = T_KF = 0.5 s per shot);
- clips: 2 other fake ComfyUI hosts running the model-free image-to-MP4 workflow
  (5 executed nodes x 0.2 s = T_CLIP = 1 s per shot);
- speech: fake CosyVoice (/inference_sft), answering after T_TTS = 0.3 s, several requests at once.

The app is ``create_app(settings, providers)`` (as tests/conftest.py builds it) served in-process
through Starlette's TestClient: POST /storyboard/create then /video/render (synchronous answers).
Frames are small (320x180, 12 fps, no crossfade) so that the composer's FFmpeg time is small; it is
still measured (every encode_segment / join_segments call is timed during the run) and added to the
ideal:

    ideal = T_SB + ceil(N / H_KF) * T_KF                                    (create)
          + T_TTS + ceil(N / H_CLIP) * T_CLIP + T_SEG + T_JOIN              (render)

where T_SEG is the median segment encode (timed from when it has its compose slot) and T_JOIN the
join measured in that run: narration must
come before a shot's clip (the clip is as long as the narration), every clip host is busy from the
first narration's end, and only the last shot's segment and the join follow the last clip.
The sequential baseline is the same service with SHOT_CONCURRENCY=1 and one host per ComfyUI pool
(shots one after another, as the seed did).
Prints one summary line: measured/ideal (target <= 1.10) and sequential/parallel at the largest N (target > 3).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import tempfile
import time
from array import array
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from pytest_httpserver import HTTPServer  # noqa: E402
from werkzeug import Request, Response  # noqa: E402

import story2video.media.compose as compose  # noqa: E402
import story2video.pipeline.render as render_stage  # noqa: E402
from app_api import build_providers  # noqa: E402
from app_local.comfy import build_image_generator, build_video_generator  # noqa: E402
from app_local.cosyvoice import CosyVoiceSpeechSynthesizer  # noqa: E402
from app_local.ollama import OllamaStoryboardWriter  # noqa: E402
from story2video.app import create_app  # noqa: E402
from story2video.logs import configure_logging  # noqa: E402
from tests.conftest import small_settings  # noqa: E402
from tests.fakes.comfy_support import IMAGE_TO_MP4, TEXT_TO_IMAGE, comfy_settings, fake_comfy_hosts  # noqa: E402
from tests.fakes.cosyvoice import SECONDS_PER_CHAR, FakeCosyVoice  # noqa: E402
from tests.fakes.ollama import FakeOllama  # noqa: E402

KF_NODES, CLIP_NODES = 4, 5  # nodes the two test workflows execute (outputs' ancestors)


@dataclass(frozen=True)
class Latency:
    storyboard: float = 1.0
    keyframe: float = 0.5
    clip: float = 1.0
    speech: float = 0.3


class SlowOllama(FakeOllama):
    delay = 0.0

    def _chat(self, request: Request) -> Response:
        time.sleep(self.delay)
        return super()._chat(request)


class SlowCosyVoice(FakeCosyVoice):
    """The fake's protocol, but the PCM comes from a cache (the fake computes it sample by sample in
    Python, which in this process would hold the GIL that the service under test needs)."""

    delay = 0.0
    _pcm: dict[int, bytes] = {}

    def _sft(self, request: Request) -> Response:
        time.sleep(self.delay)
        form = {key: request.form[key] for key in request.form}
        self.requests.append(form)
        samples = int(len(form["tts_text"]) * SECONDS_PER_CHAR * self.rate)
        if samples not in self._pcm:
            tone = array("h", (int(8000 * math.sin(2 * math.pi * 220 * i / self.rate)) for i in range(samples)))
            self._pcm[samples] = tone.tobytes()
        return Response(self._pcm[samples], content_type="application/octet-stream")


def storyboard(count: int) -> str:
    shots = [
        {"subject": f"镜头{n + 1}", "detail": f"写实风格，第{n + 1}个画面，河边的纸船", "camera": "中景，缓慢推近",
         "narration": f"第{n + 1}镜：少女捧起纸船，沿着河走。", "tone": "平静"}
        for n in range(count)
    ]
    return json.dumps({"shots": shots}, ensure_ascii=False)


class ComposeTimer:
    """Times every encode_segment / join_segments call the render stage makes."""

    def __init__(self) -> None:
        self.segments: list[float] = []
        self.joins: list[float] = []
        self._encode, self._join = compose.encode_segment, compose.join_segments

    def __enter__(self) -> "ComposeTimer":
        async def encode(*args, slot=None, **kwargs):
            # timed from when the encode has its compose slot, as if it had waited for it outside
            started: list[float] = []

            @asynccontextmanager
            async def timed_slot():
                async with slot or nullcontext():
                    started.append(time.perf_counter())
                    yield

            try:
                return await self._encode(*args, slot=timed_slot(), **kwargs)
            finally:
                if started:
                    self.segments.append(time.perf_counter() - started[0])

        async def join(*args, **kwargs):
            start = time.perf_counter()
            try:
                return await self._join(*args, **kwargs)
            finally:
                self.joins.append(time.perf_counter() - start)

        render_stage.encode_segment, render_stage.join_segments = encode, join
        return self

    def __exit__(self, *exc) -> None:
        render_stage.encode_segment, render_stage.join_segments = self._encode, self._join


@dataclass
class Run:
    shots: int
    mode: str
    create_s: float
    render_s: float
    segment_s: float
    join_s: float

    @property
    def total(self) -> float:
        return self.create_s + self.render_s


def one_run(root: Path, shots: int, lat: Latency, *, parallel: bool, shot_concurrency: int | None) -> Run:
    hosts = 2 if parallel else 1
    ollama_server = HTTPServer(threaded=True)
    tts_server = HTTPServer(threaded=True)
    ollama_server.start()
    tts_server.start()
    try:
        ollama = SlowOllama(ollama_server)
        ollama.delay = lat.storyboard
        ollama.reply_with(storyboard(shots))
        tts = SlowCosyVoice(tts_server)
        tts.delay = lat.speech
        with fake_comfy_hosts(root) as start:
            kf_hosts = [start(node_delay_s=lat.keyframe / KF_NODES, progress_steps=1) for _ in range(hosts)]
            clip_hosts = [start(node_delay_s=lat.clip / CLIP_NODES, progress_steps=1) for _ in range(hosts)]
            overrides = dict(default_resolution=180, default_fps=12, compose_workers=0,
                             ollama_url=ollama.url, cosyvoice_url=tts.url, comfy_job_timeout_s=600.0)
            if shot_concurrency is not None:
                overrides["shot_concurrency"] = shot_concurrency
            elif not parallel:
                overrides["shot_concurrency"] = 1
            settings = small_settings(root, **overrides)
            kf_settings = comfy_settings(root, *kf_hosts, comfy_image_workflow=TEXT_TO_IMAGE)
            clip_settings = comfy_settings(root, *clip_hosts, comfy_video_workflow=IMAGE_TO_MP4)
            providers = replace(
                build_providers(small_settings(root)),
                storyboard=OllamaStoryboardWriter(settings),
                image=build_image_generator(kf_settings),
                video=build_video_generator(clip_settings),
                speech=CosyVoiceSpeechSynthesizer(settings),
            )
            with TestClient(create_app(settings, providers)) as client, ComposeTimer() as timer:
                body = {"operation_id": "op-c", "story_id": "story-1", "user_id": "u-1", "style": "写实",
                        "script_content": "清晨，少女推开木窗。她背起画板走向河边。河面上漂着一只纸船。夜里，她听见了海浪。",
                        "shot_count": shots}
                began = time.perf_counter()
                created = client.post("/api/v1/storyboard/create", json=body)
                created_at = time.perf_counter()
                assert created.status_code == 200, created.text
                assert len(created.json()["shots"]) == shots, created.text
                rendered = client.post("/api/v1/video/render", json={"operation_id": "op-r", "story_id": "story-1", "user_id": "u-1"})
                done = time.perf_counter()
                assert rendered.status_code == 200, rendered.text
            assert len(timer.segments) == shots and len(timer.joins) == 1
    finally:
        ollama_server.stop()
        tts_server.stop()
    return Run(shots, "parallel" if parallel else "sequential", created_at - began, done - created_at,
               statistics.median(timer.segments), timer.joins[0])


def ideal(run: Run, lat: Latency, hosts: int = 2) -> float:
    waves = math.ceil(run.shots / hosts)
    return lat.storyboard + waves * lat.keyframe + lat.speech + waves * lat.clip + run.segment_s + run.join_s


def sequential_ideal(run: Run, lat: Latency) -> float:
    n = run.shots
    return lat.storyboard + n * lat.keyframe + n * (lat.speech + lat.clip + run.segment_s) + run.join_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 shots, latencies halved, one round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--shots", type=int, nargs="*", default=[8, 24])
    parser.add_argument("--shot-concurrency", type=int, default=None, help="override SHOT_CONCURRENCY for the parallel runs")
    args = parser.parse_args()
    configure_logging("WARNING")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    lat = Latency(0.5, 0.25, 0.5, 0.15) if args.quick else Latency()
    sizes, rounds = ([8], 1) if args.quick else (args.shots, args.rounds)
    best: dict[tuple[int, str], Run] = {}
    with tempfile.TemporaryDirectory(prefix="s2v-bench-orch-") as tmp:
        counter = 0
        for round_ in range(rounds):
            for shots in sizes:
                modes = [True, False] if round_ % 2 == 0 else [False, True]
                for parallel in modes:
                    counter += 1
                    run = one_run(Path(tmp) / f"run{counter}", shots, lat, parallel=parallel,
                                  shot_concurrency=args.shot_concurrency if parallel else None)
                    print(f"  round {round_ + 1} {shots:2d} shots {run.mode:10s} create {run.create_s:6.2f} s render {run.render_s:6.2f} s "
                          f"total {run.total:6.2f} s (segment median {run.segment_s:.2f} s, join {run.join_s:.2f} s; "
                          f"ideal {ideal(run, lat) if parallel else sequential_ideal(run, lat):.2f} s)", file=sys.stderr)
                    key = (shots, run.mode)
                    if key not in best or run.total < best[key].total:
                        best[key] = run
    parts = []
    for shots in sizes:
        par, seq = best[(shots, "parallel")], best[(shots, "sequential")]
        parts.append(f"{shots} shots: {par.total:.2f} s vs ideal {ideal(par, lat):.2f} s x{par.total / ideal(par, lat):.2f} (target <= 1.10), "
                     f"sequential {seq.total:.2f} s x{seq.total / par.total:.2f} faster")
    largest = max(sizes)
    bound = sequential_ideal(best[(largest, "sequential")], lat) / ideal(best[(largest, "parallel")], lat)
    print(f"orchestration (latencies sb {lat.storyboard:g} kf {lat.keyframe:g}x2 hosts clip {lat.clip:g}x2 hosts tts {lat.speech:g} s, best of {rounds}): "
          + "; ".join(parts)
          + f"; sequential/parallel at {largest} shots x{best[(largest, 'sequential')].total / best[(largest, 'parallel')].total:.2f} (target > 3; bound with 2 hosts x{bound:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
