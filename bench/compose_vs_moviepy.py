"""Composition: our FFmpeg composer against a straightforward MoviePy 2 version of the same video,
and against two floors: one plain ``ffmpeg`` encode of as many frames of a still (the issue's floor),
and one encode of our own output's frames (the encoder's cost for exactly this content).

    .venv/bin/python bench/compose_vs_moviepy.py            # 8 shots x 4 s, 1280x720, 24 fps, 3 rounds
    .venv/bin/python bench/compose_vs_moviepy.py --quick    # 3 shots x 2 s, 640x360, one round

The spec: N shots of 4 s, each a pan/zoom over its keyframe, narration (a tone, after a 0.2 s lead-in),
two burned-in Chinese subtitle cues, 0.5 s crossfades between shots, libx264 veryfast crf 20 + AAC.

- ours: what the pipeline does: ``encode_segment`` for every shot (told the crossfade), COMPOSE_WORKERS
  (= cores) at once in ranked slots, longest first, each encoder with its share of the cores
  (``encoder_threads``), each writing the raw frames its crossfades dissolve (``Edges``),
  ``encode_soundtrack`` beside them, each crossfade (``encode_transition``, mixed from those edges) as
  soon as its two segments exist, then ``join_segments(crossfade=..., soundtrack=..., transitions=...)``
  (video and audio copied), which cuts the segments while the last transitions still encode;
- moviepy: ImageClip + resized(lambda) zoom, AudioFileClip, TextClip with the CJK font,
  CompositeVideoClip, CrossFadeIn/CrossFadeOut + AudioFadeIn/AudioFadeOut,
  concatenate_videoclips(method="compose", padding=-crossfade), write_videofile(libx264, aac);
- floor: one ffmpeg run, the first keyframe looped for as many frames as our output has (N x 4 s
  minus the crossfades) + a tone of that length, same encoder settings;
- encode-only: our output (the latest round's) decoded beforehand, untimed, to raw yuv420p + WAV,
  then encoded once with the same settings. A still costs x264 far less than moving pictures, so
  this is the fairer floor for "how much do rendering, subtitles and joining add".

Each variant runs in its own child process (this script with ``--variant``), which first does what a
service does once at start-up (imports, finding FFmpeg and the font) and then times its work: wall
time, and CPU time of itself and every FFmpeg it ran. The parent samples the RSS of the child's whole
process tree (Python + FFmpeg children) every 20 ms for the peak.

Fairness: the whole benchmark runs at the niceness the service gives its FFmpeg runs
(``FFMPEG_NICENESS``), so every variant and its children run at the same priority; every variant runs
once in every round (the order reversed each round); each ratio is taken within a round, and the
summary gives its median over the rounds with the spread [min-max], and the load average before and
after. Prints one summary line with moviepy/ours (target >= 5) and ours/floor (target <= 1.3).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wave
from array import array
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from story2video.media.compose import SegmentSpec, SoundPart, encode_segment, encode_soundtrack, join_segments  # noqa: E402
from story2video.media.dissolves import Edges  # noqa: E402
from story2video.media.encoding import RenderProfile, audio_args, encoder_threads, video_args  # noqa: E402
from story2video.media.transitions import encode_transition  # noqa: E402
from story2video.pipeline.slots import RankedSlots  # noqa: E402
from story2video.media.ffmpeg import FFMPEG_NICENESS, locate_ffmpeg  # noqa: E402
from story2video.media.fonts import resolve_cjk_font  # noqa: E402
from story2video.media.subtitles import Cue  # noqa: E402
from story2video.providers.base import StageContext, StillMotion  # noqa: E402

LEAD_IN, TAIL, CROSSFADE, ZOOM = 0.2, 0.4, 0.5, 1.12
MOVES = ["push_in", "pan_right", "pull_out", "pan_left", "tilt_down", "push_in", "tilt_up", "pan_right"]
LINES = [
    ("清晨，小镇的钟声响起，", "少女推开木窗，望见远山的薄雾。"),
    ("她背起画板，", "沿着青石小路走向河边。"),
    ("河面上漂着一只纸船，", "船上写着一行小字。"),
    ("她小心地捧起纸船，", "决定跟着河流出发。"),
    ("她穿过稻田，越过石桥，", "天色渐渐暗了下来。"),
    ("夜里，萤火虫照亮了河岸，", "她听见了海浪的声音。"),
    ("她轻轻放下纸船，", "看着它漂向远方。"),
    ("心里充满了温暖，", "故事到这里结束。"),
]


# ------------------------------------------------------------------ inputs


def set_crossfade(seconds: float) -> None:
    global CROSSFADE
    CROSSFADE = seconds


def make_inputs(folder: Path, shots: int, seconds: float, width: int, height: int) -> dict:
    """Title-card keyframes (gradient, shapes, CJK text) and tone narrations, one per shot."""
    from PIL import Image, ImageDraw, ImageFont

    font = resolve_cjk_font()
    big = ImageFont.truetype(str(font.path), height // 8)
    shots_data = []
    for i in range(shots):
        image = Image.new("RGB", (width, height))
        draw = ImageDraw.Draw(image)
        for y in range(height):  # vertical gradient: something for the encoder and the move to work on
            t = y / height
            draw.line([(0, y), (width, y)], fill=(int(40 + 120 * t), int(60 + 30 * i % 120), int(180 - 100 * t)))
        for k in range(12):
            x, y, r = (k * 97 + i * 53) % width, (k * 61 + i * 29) % height, 20 + (k * 13) % 60
            draw.ellipse([x - r, y - r, x + r, y + r], outline=(255, 240, 200), width=3)
        draw.text((width // 10, height // 3), f"第{i + 1}镜 · {LINES[i % len(LINES)][0]}", font=big, fill=(255, 255, 255))
        keyframe = folder / f"key{i}.png"
        image.save(keyframe)
        narration_s = seconds - LEAD_IN - TAIL
        wav = write_tone(folder / f"voice{i}.wav", narration_s, 220 + 40 * i)
        half = LEAD_IN + narration_s / 2
        cues = [Cue(LEAD_IN, half, LINES[i % len(LINES)][0]), Cue(half, LEAD_IN + narration_s, LINES[i % len(LINES)][1])]
        shots_data.append({"keyframe": str(keyframe), "narration": str(wav), "narration_s": narration_s,
                           "move": MOVES[i % len(MOVES)], "cues": [[c.start, c.end, c.text] for c in cues]})
    return {"shots": shots_data, "seconds": seconds, "width": width, "height": height, "font": str(font.path)}


def write_tone(path: Path, seconds: float, freq: float, rate: int = 22050) -> Path:
    count = round(seconds * rate)
    samples = array("h", (int(12000 * math.sin(2 * math.pi * freq * n / rate)) for n in range(count)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


# ------------------------------------------------------------------ variants (run in a child process)


def profile_of(spec: dict, fps: int) -> RenderProfile:
    return RenderProfile(width=spec["width"], height=spec["height"], fps=fps)


def run_ours(spec: dict, fps: int, out: Path) -> None:
    ffmpeg = locate_ffmpeg()
    font = resolve_cjk_font()
    profile = profile_of(spec, fps)
    workers = int(os.environ.get("COMPOSE_WORKERS") or os.cpu_count() or 1)

    async def go() -> None:
        # as the pipeline does (pipeline/render.py, pipeline/crossfades.py): compose slots ranked longest
        # first, each encode with its share of the cores, the soundtrack encoded beside the segments, each
        # crossfade as soon as its two segments exist, then a join that copies everything
        slots = RankedSlots(workers)
        segments = [
            SegmentSpec(
                keyframe=Path(shot["keyframe"]), clip=StillMotion(shot["move"], zoom=ZOOM), narration=Path(shot["narration"]),
                narration_duration=shot["narration_s"], lead_in=LEAD_IN, tail=TAIL,
                cues=[Cue(*c) for c in shot["cues"]], font=font, crossfade=CROSSFADE,
            )
            for shot in spec["shots"]
        ]
        paths = [out.parent / f"seg{i}.mp4" for i in range(len(segments))]
        fade = profile.fade_frames(CROSSFADE) if len(segments) > 1 else 0
        durations: dict[int, float] = {}
        transitions: dict[int, asyncio.Task[Path]] = {}

        edges = [Edges.in_folder(out.parent, i, len(segments)) for i in range(len(segments))]

        async def transition(i: int) -> Path:
            async with slots.slot(0.0, fade / fps):
                made = await encode_transition(ffmpeg, paths[i], paths[i + 1], profile.frames(durations[i]), fade, profile,
                                               out.parent / f"transition{i}.mp4", StageContext(), threads=encoder_threads(workers),
                                               edges=(edges[i].tail, edges[i + 1].head))
            for edge in (edges[i].tail, edges[i + 1].head):
                edge.unlink()
            return made

        async def one(i: int) -> None:
            durations[i] = await encode_segment(ffmpeg, segments[i], profile, paths[i], StageContext(),
                                                threads=encoder_threads(min(workers, len(segments))),
                                                slot=slots.slot(0.0, segments[i].duration), edges=edges[i] if fade else None)
            for left in (i - 1, i):
                if fade and left in durations and left + 1 in durations:
                    transitions[left] = asyncio.ensure_future(transition(left))

        async def all_made() -> dict[int, Path]:
            return dict(zip(transitions, await asyncio.gather(*transitions.values())))

        parts = [SoundPart(segment.narration, LEAD_IN, segment.duration) for segment in segments]
        track = out.parent / "soundtrack.m4a"
        soundtrack = asyncio.ensure_future(
            encode_soundtrack(ffmpeg, parts, track, crossfade=CROSSFADE, profile=profile, ctx=StageContext()))
        # every task runs to its end before a failure is raised: asyncio.run would otherwise cancel them all,
        # asyncio's own pipe-connecting tasks too, and on Python < 3.13 that can hang a starting subprocess
        outcomes = await asyncio.gather(*(one(i) for i in range(len(segments))), soundtrack, return_exceptions=True)
        failed = next((outcome for outcome in outcomes if isinstance(outcome, BaseException)), None)
        if failed is not None:
            await asyncio.gather(*transitions.values(), return_exceptions=True)
            raise failed
        # the join cuts the segments while the last transitions encode
        await join_segments(ffmpeg, paths, [durations[i] for i in range(len(segments))], out, crossfade=CROSSFADE,
                            soundtrack=track, transitions=asyncio.ensure_future(all_made()), profile=profile,
                            ctx=StageContext(), slot=slots.slot(0.0, sum(durations.values())))

    asyncio.run(go())


def run_moviepy(spec: dict, fps: int, out: Path) -> None:
    from moviepy import AudioFileClip, CompositeVideoClip, ImageClip, TextClip, afx, concatenate_videoclips, vfx

    width, height, seconds = spec["width"], spec["height"], spec["seconds"]
    clips = []
    for shot in spec["shots"]:
        zoom, move = ZOOM, shot["move"]
        if move == "pull_out":
            scale = lambda t, z=zoom: z - (z - 1) * t / seconds  # noqa: E731
        elif move == "push_in":
            scale = lambda t, z=zoom: 1 + (z - 1) * t / seconds  # noqa: E731
        else:
            scale = lambda t, z=zoom: z  # noqa: E731
        spare_x, spare_y = width * (zoom - 1), height * (zoom - 1)
        if move == "pan_right":
            position = lambda t, sx=spare_x, sy=spare_y: (-sx * t / seconds, -sy / 2)  # noqa: E731
        elif move == "pan_left":
            position = lambda t, sx=spare_x, sy=spare_y: (-sx * (1 - t / seconds), -sy / 2)  # noqa: E731
        elif move == "tilt_down":
            position = lambda t, sx=spare_x, sy=spare_y: (-sx / 2, -sy * t / seconds)  # noqa: E731
        elif move == "tilt_up":
            position = lambda t, sx=spare_x, sy=spare_y: (-sx / 2, -sy * (1 - t / seconds))  # noqa: E731
        else:
            position = "center"
        picture = ImageClip(shot["keyframe"]).with_duration(seconds).resized(scale).with_position(position)
        layers = [picture]
        for start, end, text in shot["cues"]:
            layers.append(
                TextClip(font=spec["font"], text=text, font_size=height // 18, color="white", stroke_color="black",
                         stroke_width=2, method="label", margin=(10, 10))
                .with_start(start).with_duration(end - start).with_position(("center", height * 0.82))
            )
        audio = AudioFileClip(shot["narration"]).with_start(LEAD_IN)
        shot_clip = CompositeVideoClip(layers, size=(width, height)).with_duration(seconds).with_audio(audio)
        shot_clip = shot_clip.with_effects([vfx.CrossFadeIn(CROSSFADE), vfx.CrossFadeOut(CROSSFADE),
                                            afx.AudioFadeIn(CROSSFADE), afx.AudioFadeOut(CROSSFADE)])
        clips.append(shot_clip)
    final = concatenate_videoclips(clips, method="compose", padding=-CROSSFADE)
    final.write_videofile(str(out), fps=fps, codec="libx264", audio_codec="aac", audio_bitrate="128k", audio_fps=48000,
                          preset="veryfast", threads=os.cpu_count(), ffmpeg_params=["-crf", "20", "-pix_fmt", "yuv420p"],
                          logger=None)


def output_seconds(spec: dict) -> float:
    shots = len(spec["shots"])
    return shots * spec["seconds"] - (shots - 1) * CROSSFADE


def run_floor(spec: dict, fps: int, out: Path) -> None:
    """One encode of as many frames as our output has, of the first still, looped, no filters."""
    profile = profile_of(spec, fps)
    seconds = output_seconds(spec)
    args = [str(locate_ffmpeg()), "-v", "error", "-y", "-loop", "1", "-framerate", str(fps), "-i", spec["shots"][0]["keyframe"],
            "-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=48000:duration={seconds}",
            "-frames:v", str(round(seconds * fps)), "-t", f"{seconds}"]
    # the still is RGB: let the encoder's input be converted once by the auto-inserted scaler, like any plain encode
    subprocess.run([*args, *encoder_args(profile), str(out)], check=True)


def run_encode_only(spec: dict, fps: int, out: Path) -> None:
    """Our output's own frames and audio, decoded beforehand to raw files, encoded once: the encoder's
    cost for exactly this content, without rendering, subtitles or joins."""
    profile = profile_of(spec, fps)
    raw = Path(spec["raw"])
    args = [str(locate_ffmpeg()), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{profile.width}x{profile.height}",
            "-framerate", str(fps), "-i", str(raw.with_suffix(".yuv")), "-i", str(raw.with_suffix(".wav"))]
    subprocess.run([*args, *encoder_args(profile), str(out)], check=True)


def encoder_args(profile: RenderProfile) -> list[str]:
    args = []
    for key, value in {**video_args(profile), **audio_args(profile)}.items():
        args += [f"-{key}", str(value)]
    return args


def decode_to_raw(video: Path, raw: Path) -> None:
    """Untimed preparation of the encode-only variant."""
    subprocess.run([str(locate_ffmpeg()), "-v", "error", "-y", "-i", str(video), "-f", "rawvideo", "-pix_fmt", "yuv420p",
                    str(raw.with_suffix(".yuv")), "-vn", "-f", "wav", str(raw.with_suffix(".wav"))], check=True)


VARIANTS = {"ours": run_ours, "moviepy": run_moviepy, "floor": run_floor, "encode-only": run_encode_only}


def prepare(variant: str) -> None:
    """What a service does once when it starts, not per video: import the libraries, find FFmpeg and the font."""
    locate_ffmpeg()
    resolve_cjk_font()
    if variant == "moviepy":
        import moviepy  # noqa: F401


def own_cpu() -> float:
    """CPU seconds of this process and of every child it has waited for (FFmpeg runs)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_timed(variant: str, spec: dict, fps: int, out: Path, timing: Path) -> None:
    """The variant's work, timed from after ``prepare`` to its output written (wall and CPU)."""
    prepare(variant)
    began, cpu = time.perf_counter(), own_cpu()
    VARIANTS[variant](spec, fps, out)
    timing.write_text(json.dumps({"wall": time.perf_counter() - began, "cpu": own_cpu() - cpu}))


# ------------------------------------------------------------------ measuring


def tree_rss(process: psutil.Process) -> int:
    total = 0
    try:
        procs = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def measure(variant: str, spec_path: Path, fps: int, out: Path) -> tuple[float, int, float]:
    """(wall seconds, peak RSS bytes, CPU seconds) of one variant, run in a child process. Wall and CPU
    are the child's own measure of the work (``run_timed``: after its imports, the CPU of the child
    and every FFmpeg it ran); the peak RSS is of the child's whole process tree, sampled here."""
    out.parent.mkdir(parents=True, exist_ok=True)
    child = subprocess.Popen([sys.executable, __file__, "--variant", variant, "--spec", str(spec_path), "--fps", str(fps), "--out", str(out),
                              "--crossfade", str(CROSSFADE)])
    process = psutil.Process(child.pid)
    peak = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(process))
            done.wait(0.02)

    sampler = threading.Thread(target=poll)
    sampler.start()
    code = child.wait()
    done.set()
    sampler.join()
    if code != 0 or not out.exists():
        raise SystemExit(f"{variant} failed with exit code {code}")
    timing = json.loads(out.with_suffix(".timing.json").read_text())
    return timing["wall"], peak, timing["cpu"]


def frames_of(path: Path) -> str:
    """Duration of an MP4 as ffmpeg reports it (for a sanity line in verbose mode)."""
    result = subprocess.run([str(locate_ffmpeg()), "-i", str(path)], capture_output=True, text=True)
    line = next((x for x in result.stderr.splitlines() if "Duration" in x), "")
    return line.strip().split(",")[0]


def run_variant(variant: str, round_: int, folder: Path, spec_path: Path, spec: dict, fps: int,
                walls: dict[str, list[float]], peaks: dict[str, int], cpus: dict[str, list[float]]) -> None:
    out = folder / f"{variant}-{round_}" / f"{variant}.mp4"
    wall, peak, cpu = measure(variant, spec_path, fps, out)
    cpus[variant].append(cpu)
    if variant == "ours":  # encode-only encodes this round's own output
        decode_to_raw(out, Path(spec["raw"]))
    walls[variant].append(wall)
    peaks[variant] = max(peak, peaks.get(variant, 0))
    print(f"  round {round_ + 1} {variant:11s} {wall:7.2f} s  cpu {cpu:7.2f} s  peak RSS {peak / 2**20:7.1f} MiB  {frames_of(out)}", file=sys.stderr)


def ratio(numerators: list[float], denominators: list[float]) -> str:
    """The median over rounds of a ratio taken within each round, and its spread."""
    values = [a / b for a, b in zip(numerators, denominators)]
    return f"x{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 shots x 2 s at 640x360, one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the outputs in this folder")
    parser.add_argument("--variant", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--skip-moviepy", action="store_true", help="only ours and the floor")
    parser.add_argument("--crossfade", type=float, default=CROSSFADE, help="seconds (0: joined by stream copy)")
    args = parser.parse_args()
    set_crossfade(args.crossfade)
    if args.variant:
        run_timed(args.variant, json.loads(args.spec.read_text()), args.fps, args.out, args.out.with_suffix(".timing.json"))
        return 0

    shots, seconds, width, height, rounds = (3, 2.0, 640, 360, 1) if args.quick else (8, 4.0, 1280, 720, args.rounds)
    # The service runs its FFmpeg at FFMPEG_NICENESS: every variant (and its children) runs at that niceness too.
    os.setpriority(os.PRIO_PROCESS, 0, max(os.getpriority(os.PRIO_PROCESS, 0), FFMPEG_NICENESS))
    variants = ["ours", "encode-only", "floor"] + ([] if args.skip_moviepy else ["moviepy"])
    with tempfile.TemporaryDirectory(prefix="s2v-bench-compose-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        spec_path = folder / "spec.json"
        spec = make_inputs(folder, shots, seconds, width, height) | {"raw": str(folder / "ours-raw")}
        spec_path.write_text(json.dumps(spec, ensure_ascii=False))
        load_before = os.getloadavg()
        walls: dict[str, list[float]] = {variant: [] for variant in variants}
        cpus: dict[str, list[float]] = {variant: [] for variant in variants}
        peaks: dict[str, int] = {}
        for round_ in range(rounds):
            # every variant in every round, the order reversed each round; ratios are taken within a round
            for variant in variants if round_ % 2 == 0 else variants[::-1]:
                if variant == "encode-only" and not Path(spec["raw"]).with_suffix(".yuv").exists():
                    continue  # needs ours from this round first: measured after it (see below)
                run_variant(variant, round_, folder, spec_path, spec, args.fps, walls, peaks, cpus)
            if len(walls["encode-only"]) <= round_:
                run_variant("encode-only", round_, folder, spec_path, spec, args.fps, walls, peaks, cpus)
    load_after = os.getloadavg()
    per_round = {variant: walls[variant] for variant in variants}
    ours = per_round["ours"]
    parts = [f"compose {shots} shots x {seconds:g} s {width}x{height}@{args.fps} crossfade {CROSSFADE:g} s, "
             f"niceness {FFMPEG_NICENESS} for all, median [min-max] of {rounds} rounds, ratios within each round, "
             f"{os.cpu_count()} cores, load {load_before[0]:.2f} -> {load_after[0]:.2f}:",
             f"ours {statistics.median(ours):.2f} s / {peaks['ours'] / 2**20:.0f} MiB"]
    if "moviepy" in per_round:
        parts.append(f"moviepy {statistics.median(per_round['moviepy']):.2f} s / {peaks['moviepy'] / 2**20:.0f} MiB")
    parts.append(f"encode-only {statistics.median(per_round['encode-only']):.2f} s "
                 f"floor {statistics.median(per_round['floor']):.2f} s / {peaks['floor'] / 2**20:.0f} MiB;")
    parts.append(f"CPU ours {statistics.median(cpus['ours']):.2f} s floor {statistics.median(cpus['floor']):.2f} s, "
                 f"ours/floor CPU {ratio(cpus['ours'], cpus['floor'])};")
    if "moviepy" in per_round:
        parts.append(f"moviepy/ours {ratio(per_round['moviepy'], ours)} (target >= 5), memory x{peaks['moviepy'] / peaks['ours']:.2f};")
    parts.append(f"ours/encode-only {ratio(ours, per_round['encode-only'])}, ours/floor {ratio(ours, per_round['floor'])} (target <= 1.3)")
    print(" ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
