"""GPU keyframes: our in-process diffusers backend against a naive diffusers loop and the compute floor.

    .venv/bin/python bench/gpu_keyframes.py              # CUDA: SDXL-sized, 1024x1024, 4 steps, 8 shots, best of 3
                                                         # (no CUDA: the same on tiny configs, on the CPU)
    .venv/bin/python bench/gpu_keyframes.py --compile    # ours with DIFFUSERS_COMPILE=true
    .venv/bin/python bench/gpu_keyframes.py --quick      # tiny on the CPU, 3 shots, one round (< 60 s)

The model is a StableDiffusionXLPipeline with random weights built offline by ``bench/sdxl_build.py``
(``--size sdxl``: SDXL base's architecture; ``--size tiny``: the same classes at ~0.7 M weights),
saved with ``save_pretrained`` and named in a manifest, as a user's model folder is.

- ours: ``build_image_generator(Settings(...))`` on that manifest (DIFFUSERS_MAX_BATCH = shots; the
  loader picks bf16 on CUDA and fp32 on the CPU, SDPA attention; ``--compile`` sets DIFFUSERS_COMPILE),
  the N shots' ``generate`` calls awaited together so that the micro-batching draws them in one call;
- naive: ``StableDiffusionXLPipeline.from_pretrained(folder, dtype=float32)`` loaded once, diffusers'
  plain ``AttnProcessor`` (no SDPA) in the UNet and the VAE, no compile, one image per call;
- floor: ``steps * F / R`` seconds per image, F = the UNet's matmul and convolution FLOPs for one
  image and one step (FlopCounterMode on the meta device; batch 2 when guidance > 1, as classifier-free
  guidance doubles it), R = the measured dense matmul rate (``torch.mm``, 8192x8192 in the loader's
  CUDA dtype, fp32 1024x1024 on the CPU; best of 5).

Both variants get the same prompts, seeds (CPU generators), steps, guidance and size, and write every
image as a PNG, checked after each round (it decodes, at the requested size). Each variant runs in a
child process of its own (this script with ``--variant``): it loads, draws a first round and reports
its cold start (load to first PNG in a fresh process: the packages imported, CUDA not yet initialised,
the model files in the page cache), then runs the warm rounds the parent asks for, interleaved with
the other variant's (``--sequential``: one variant after the other), and at the end its peak memory
(CUDA: max_memory_allocated; CPU: peak RSS). Prints one summary line with ours/naive
(target >= 3) and ours as a fraction of the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sdxl_build import ARCHITECTURES, PIPELINE, cached_pipeline, unet_flops  # noqa: E402

VARIANTS = ("ours", "naive")
MODEL = "bench-keyframes"
SCENES = [
    "a girl opens a wooden window on a misty morning", "a drawing board on a stone path by the river",
    "a paper boat floating on the water", "hands lifting the paper boat from the river",
    "rice fields and a stone bridge at dusk", "fireflies over the riverbank at night",
    "the paper boat drifting towards the sea", "a quiet harbour under the stars",
]
FIRST_SEED = 1000
CUDA_MATRIX, CPU_MATRIX = 8192, 1024


@dataclass(frozen=True)
class Plan:
    """What both children run (written as JSON for them)."""

    folder: str
    manifest: str
    out: str
    device: str  # "cuda" or "cpu"
    width: int
    height: int
    steps: int
    shots: int
    guidance: float
    compile: bool
    threads: int  # torch CPU threads; 0 = torch's default


# ------------------------------------------------------------------ the variants (child processes)


def image_requests(plan: Plan) -> list[Any]:
    from story2video.providers.base import ImageRequest

    return [
        ImageRequest(prompt=SCENES[index % len(SCENES)], subject="", narration="", style="watercolor",
                     width=plan.width, height=plan.height, seed=FIRST_SEED + index, shot_index=index)
        for index in range(plan.shots)
    ]


class Ours:
    """The service's keyframe backend, built from the manifest as the app builds it."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.requests = image_requests(plan)
        self.generator: Any = None

    def load(self) -> None:  # the pipeline itself loads in the first round (on first use)
        from app_local.inprocess import build_image_generator
        from story2video.config import Settings

        settings = Settings(_env_file=None, diffusers_manifest=Path(self.plan.manifest), diffusers_image_model=MODEL,
                            diffusers_device=self.plan.device, diffusers_max_batch=self.plan.shots,
                            diffusers_compile=self.plan.compile)
        self.generator = build_image_generator(settings)

    def round(self, folder: Path) -> list[float]:
        return asyncio.run(self._generate_all(folder))

    async def _generate_all(self, folder: Path) -> list[float]:
        from story2video.providers.base import StageContext

        async def one(index: int, request: Any) -> float:
            await self.generator.generate(request, folder / f"shot{index}.png", StageContext())
            return time.perf_counter()

        return list(await asyncio.gather(*(one(index, request) for index, request in enumerate(self.requests))))


class Naive:
    """The baseline: the pipeline loaded once in fp32, diffusers' plain attention, no compile, one image per call."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.requests = image_requests(plan)
        self.pipe: Any = None

    def load(self) -> None:
        import torch
        from diffusers import StableDiffusionXLPipeline
        from diffusers.models.attention_processor import AttnProcessor

        pipe = StableDiffusionXLPipeline.from_pretrained(self.plan.folder, dtype=torch.float32, local_files_only=True,
                                                         use_safetensors=True)
        pipe.unet.set_attn_processor(AttnProcessor())
        pipe.vae.set_attn_processor(AttnProcessor())
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe.to(self.plan.device)

    def round(self, folder: Path) -> list[float]:
        import torch

        from story2video.providers.picture_prompt import picture_prompt

        finished = []
        for index, request in enumerate(self.requests):
            image = self.pipe(
                prompt=picture_prompt(request).text, height=self.plan.height, width=self.plan.width,
                num_inference_steps=self.plan.steps, guidance_scale=self.plan.guidance,
                generator=torch.Generator(device="cpu").manual_seed(request.seed), output_type="pil",
            ).images[0]
            image.save(folder / f"shot{index}.png")
            finished.append(time.perf_counter())
        return finished


RUNNERS = {"ours": Ours, "naive": Naive}


def check_images(folder: Path, plan: Plan) -> None:
    from PIL import Image

    for index in range(plan.shots):
        with Image.open(folder / f"shot{index}.png") as image:
            image.load()
            if image.size != (plan.width, plan.height):
                raise RuntimeError(f"{folder.name}/shot{index}.png is {image.size}, not {plan.width}x{plan.height}")


def peak_memory_bytes(device: str) -> int:
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def serve(variant: str, plan: Plan) -> int:
    """Load, draw a first round, then answer "round" and "done" lines from the parent (JSON replies)."""
    import torch

    from app_local.inprocess.libraries import gpu_libraries

    channel = _reply_channel()
    if plan.threads:
        torch.set_num_threads(plan.threads)
    getattr(gpu_libraries().diffusers, PIPELINE)  # the imports are done before the cold start's clock starts
    runner = RUNNERS[variant](plan)
    folder = Path(plan.out) / variant
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    runner.load()
    finished = runner.round(folder)
    check_images(folder, plan)
    _reply(channel, cold_start_s=min(finished) - started, first_round_s=max(finished) - started)
    for command in sys.stdin:
        if command.strip() != "round":
            break
        for png in folder.glob("*.png"):
            png.unlink()
        started = time.perf_counter()
        runner.round(folder)
        seconds = time.perf_counter() - started
        check_images(folder, plan)
        _reply(channel, seconds=seconds)
    _reply(channel, peak_bytes=peak_memory_bytes(plan.device))
    return 0


def _reply_channel() -> TextIO:
    """The real stdout, kept for the replies; anything else printed (libraries) goes to stderr."""
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return channel


def _reply(channel: TextIO, **values: float) -> None:
    channel.write(json.dumps(values) + "\n")


# ------------------------------------------------------------------ the parent


@dataclass
class Measured:
    cold_start_s: float = 0.0
    first_round_s: float = 0.0
    rounds: list[float] = field(default_factory=list)
    peak_bytes: int = 0

    def images_per_s(self, shots: int) -> float:
        return shots / min(self.rounds)


class Child:
    def __init__(self, variant: str, plan_path: Path):
        self.variant = variant
        env = dict(os.environ)  # one GPU for both variants (ours would put a worker on every visible one)
        env["CUDA_VISIBLE_DEVICES"] = env.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]
        self.process = subprocess.Popen([sys.executable, __file__, "--variant", variant, "--plan", str(plan_path)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def ask(self, command: str | None = None) -> dict[str, float]:
        """Send ``command`` (none: just read the next reply) and return the child's JSON reply."""
        assert self.process.stdin is not None and self.process.stdout is not None
        if command is not None:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.variant} child exited with {self.process.wait()} (its errors are above)")
        return json.loads(line)

    def finish(self) -> dict[str, float]:
        reply = self.ask("done")
        if self.process.wait() != 0:
            raise RuntimeError(f"the {self.variant} child exited with {self.process.returncode}")
        return reply

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def schedule(rounds: int, sequential: bool) -> list[tuple[str, str]]:
    """(variant, step) in order. Cold starts never overlap; warm rounds alternate which variant goes first."""
    if sequential:
        return [step for name in VARIANTS for step in [(name, "start"), *[(name, "round")] * rounds, (name, "done")]]
    warm = [(name, "round") for index in range(rounds) for name in (VARIANTS if index % 2 == 0 else VARIANTS[::-1])]
    return [(name, "start") for name in VARIANTS] + warm + [(name, "done") for name in VARIANTS]


def run_variants(plan_path: Path, rounds: int, sequential: bool) -> dict[str, Measured]:
    measured = {name: Measured() for name in VARIANTS}
    children: dict[str, Child] = {}
    try:
        for name, step in schedule(rounds, sequential):
            result = measured[name]
            if step == "start":
                children[name] = Child(name, plan_path)
                reply = children[name].ask()
                result.cold_start_s, result.first_round_s = reply["cold_start_s"], reply["first_round_s"]
                log(f"  {name:5s} cold start {result.cold_start_s:7.2f} s (first round {result.first_round_s:.2f} s)")
            elif step == "round":
                result.rounds.append(children[name].ask("round")["seconds"])
                log(f"  {name:5s} round {len(result.rounds)}: {result.rounds[-1]:7.2f} s")
            else:
                result.peak_bytes = int(children[name].finish()["peak_bytes"])
    finally:
        for child in children.values():
            child.kill()
    return measured


def matmul_rate(device: str, dtype: Any, size: int, repeats: int = 5) -> float:
    """Dense matmul FLOP/s: best of ``repeats`` timings of back-to-back ``torch.mm`` calls."""
    import torch

    def synchronize() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    out = torch.mm(a, b)
    calls = 20 if device == "cuda" else 3
    best = float("inf")
    for _ in range(repeats + 1):  # the first is a warm-up
        synchronize()
        started = time.perf_counter()
        for _ in range(calls):
            torch.mm(a, b, out=out)
        synchronize()
        best = min(best, (time.perf_counter() - started) / calls)
    del a, b, out
    if device == "cuda":
        torch.cuda.empty_cache()
    return 2 * size**3 / best


def run_dtype(device: str) -> Any:
    """What the loader runs in (manifest dtype "auto")."""
    import torch

    if device != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def device_name(device: str) -> str:
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name(0)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def write_manifest(path: Path, folder: Path, args: argparse.Namespace) -> Path:
    entry = {"stage": "image", "pipeline": PIPELINE, "path": str(folder), "dtype": "auto", "steps": args.steps,
             "guidance": args.guidance, "width": args.width, "height": args.height,
             "size_multiple": ARCHITECTURES[args.size].size_multiple, "max_batch": args.shots}
    path.write_text(json.dumps({"image": MODEL, "models": {MODEL: entry}}, indent=2), encoding="utf-8")
    return path


def pixel_difference(out: Path, shots: int) -> tuple[float, int]:
    """Mean and max |ours - naive| over the last round's PNGs (same prompts and seeds)."""
    import numpy as np
    from PIL import Image

    def pixels(path: Path) -> Any:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.int16)

    stacked = np.stack([np.abs(pixels(out / "ours" / f"shot{index}.png") - pixels(out / "naive" / f"shot{index}.png"))
                        for index in range(shots)])
    return float(stacked.mean()), int(stacked.max())


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny on the CPU, 3 shots, one round")
    parser.add_argument("--size", choices=sorted(ARCHITECTURES), help="default: sdxl with CUDA, tiny without")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument("--width", type=int, help="default: 1024 (sdxl), 128 (tiny)")
    parser.add_argument("--height", type=int, help="default: as --width")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="warm rounds per variant (best of)")
    parser.add_argument("--guidance", type=float, default=5.0, help="guidance_scale; > 1 runs classifier-free guidance")
    parser.add_argument("--compile", action="store_true", help="ours with DIFFUSERS_COMPILE=true")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: 1 for tiny, torch's default for sdxl)")
    parser.add_argument("--sequential", action="store_true", help="one variant's process at a time (when two loaded copies do not fit)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "story2video-bench",
                        help="where the random pipelines are kept between runs")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--plan", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        return args
    import torch

    if args.quick:
        args.size, args.device, args.shots, args.rounds = "tiny", "cpu", 3, 1
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but torch sees no CUDA device")
    args.size = args.size or ("sdxl" if args.device == "cuda" else "tiny")
    args.width = args.width or (1024 if args.size == "sdxl" else 128)
    args.height = args.height or args.width
    args.threads = args.threads if args.threads is not None else (1 if args.size == "tiny" else 0)
    multiple = ARCHITECTURES[args.size].size_multiple
    if args.width % multiple or args.height % multiple:
        parser.error(f"--width and --height must be multiples of {multiple} for {args.size}")
    if min(args.steps, args.shots, args.rounds) < 1:
        parser.error("--steps, --shots and --rounds must be at least 1")
    return args


def main() -> int:
    args = parse_args()
    if args.variant:
        return serve(args.variant, Plan(**json.loads(args.plan.read_text(encoding="utf-8"))))
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    arch = ARCHITECTURES[args.size]
    started = time.perf_counter()
    folder = cached_pipeline(arch, args.cache)
    log(f"model: {folder} ({time.perf_counter() - started:.1f} s to build or find)")
    guided = args.guidance > 1
    flops = unet_flops(arch, 2 if guided else 1, args.height, args.width)
    dtype = run_dtype(args.device)
    rate = matmul_rate(args.device, dtype, CUDA_MATRIX if args.device == "cuda" else CPU_MATRIX)
    floor = rate / (args.steps * flops)
    dtype_name = str(dtype).removeprefix("torch.")
    log(f"floor: UNet {flops / 1e12:.4g} TFLOP per image and step, torch.mm {dtype_name} {rate / 1e12:.4g} TFLOP/s -> {floor:.3f} img/s")
    with tempfile.TemporaryDirectory(prefix="s2v-bench-keyframes-") as tmp:
        out = Path(tmp)
        plan = Plan(folder=str(folder), manifest=str(write_manifest(out / "manifest.json", folder, args)),
                    out=str(out), device=args.device, width=args.width, height=args.height, steps=args.steps,
                    shots=args.shots, guidance=args.guidance, compile=args.compile, threads=args.threads)
        plan_path = out / "plan.json"
        plan_path.write_text(json.dumps(asdict(plan)), encoding="utf-8")
        measured = run_variants(plan_path, args.rounds, args.sequential)
        mean_diff, max_diff = pixel_difference(out, args.shots)
    log(f"ours vs naive pixels (same prompts and seeds): mean |diff| {mean_diff:.2f}, max {max_diff}"
        + (" (bf16 against fp32)" if args.device == "cuda" else ""))
    print(summary(args, measured, floor, rate, flops, dtype_name))
    return 0


def summary(args: argparse.Namespace, measured: dict[str, Measured], floor: float, rate: float, flops: int, dtype_name: str) -> str:
    ours, naive = measured["ours"], measured["naive"]
    memory = "GPU peak" if args.device == "cuda" else "peak RSS"
    where = device_name(args.device)
    if args.device == "cpu":
        threads = f"{args.threads} torch thread{'s' if args.threads > 1 else ''}" if args.threads else "all cores"
        where += f", CPU, {threads}" + ("; no CUDA, so tiny configs" if args.size == "tiny" else "")
    passes = "2 UNet passes per step" if args.guidance > 1 else "1 UNet pass per step"

    def variant(name: str, result: Measured) -> str:
        return (f"{name} {result.images_per_s(args.shots):.3g} img/s (cold start {result.cold_start_s:.1f} s, "
                f"{memory} {result.peak_bytes / 2**30:.2f} GiB)")

    ours_ips, naive_ips = ours.images_per_s(args.shots), naive.images_per_s(args.shots)
    return (f"gpu_keyframes {args.size} {args.width}x{args.height} {args.steps} steps {args.shots} shots, "
            f"guidance {args.guidance:g} ({passes}){', compiled' if args.compile else ''}, best of {args.rounds} on {where}: "
            f"{variant('ours', ours)} {variant('naive', naive)} floor {floor:.3g} img/s "
            f"({flops / 1e12:.3g} TFLOP per image-step at {rate / 1e12:.3g} TFLOP/s {dtype_name}); "
            f"ours/naive x{ours_ips / naive_ips:.2f} (target >= 3), ours/floor {ours_ips / floor:.2f}")


if __name__ == "__main__":
    sys.exit(main())
