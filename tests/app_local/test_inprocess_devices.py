"""The device side of the in-process backends: dtype choice, resident pipelines, failed loads, sticky
CUDA errors, warm-up, compile serialisation. On the CPU with the tiny pipeline; CUDA calls are faked."""

from __future__ import annotations

import asyncio
import functools
import shutil
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("diffusers", reason="needs requirements-gpu.txt")

import torch  # noqa: E402
from diffusers import StableDiffusionPipeline  # noqa: E402

from app_local.inprocess import build_image_generator, loading  # noqa: E402
from app_local.inprocess import pool as pool_module  # noqa: E402
from app_local.inprocess import worker as worker_module  # noqa: E402
from app_local.inprocess.batching import BatchQueue  # noqa: E402
from app_local.inprocess.compiling import COMPILE_LOCK, RECOMPILE_LIMIT, compile_denoiser  # noqa: E402
from app_local.inprocess.libraries import gpu_libraries  # noqa: E402
from app_local.inprocess.loading import torch_dtype  # noqa: E402
from app_local.inprocess.manifest import model_spec, read_manifest  # noqa: E402
from app_local.inprocess.worker import DeviceWorker  # noqa: E402
from story2video.errors import BackendError, BackendUnavailable  # noqa: E402
from story2video.providers.base import ImageRequest, StageContext  # noqa: E402
from tests.conftest import small_settings  # noqa: E402
from tests.fakes.tiny_pipelines import tiny_models, write_manifest  # noqa: E402

WAIT_S = 60.0


@pytest.fixture
def fresh_pools(monkeypatch):
    """A pool (and worker threads) of the test's own, stopped after it."""
    monkeypatch.setattr(pool_module, "_POOLS", {})
    yield
    for pool in pool_module._POOLS.values():
        pool.close()


def _entry(**fields) -> dict:
    return {"stage": "image", "pipeline": "StableDiffusionPipeline", "path": str(tiny_models().image), "dtype": "float16",
            "steps": 2, "width": 64, "height": 64, "size_multiple": 16, "max_batch": 8, **fields}


def _settings(tmp_path: Path, entries: dict[str, dict], model: str, **overrides):
    manifest = write_manifest(tmp_path / "manifest.json", None, None, **entries)
    values = {"diffusers_manifest": manifest, "diffusers_device": "cpu", "diffusers_image_model": model, "diffusers_batch_window_s": 0.0}
    return small_settings(tmp_path, **{**values, **overrides})


def _draw(generator, dest: Path, width: int = 64, height: int = 64, seed: int = 1) -> None:
    request = ImageRequest(prompt="a harbour", subject="harbour", narration="", style="", width=width, height=height, seed=seed)
    asyncio.run(generator.generate(request, dest, StageContext()))


class Loads:
    """Counts the pipelines the workers load (by manifest name)."""

    def __init__(self, monkeypatch, fail: dict[str, Exception] | None = None):
        self.names: list[str] = []
        original = worker_module.load_pipeline

        def counting(libraries, spec, device, options):
            self.names.append(spec.name)
            error = (fail or {}).pop(spec.name, None)
            if error is not None:
                raise error
            return original(libraries, spec, device, options)

        monkeypatch.setattr(worker_module, "load_pipeline", counting)


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


# ---------------------------------------------------------------- dtype: auto


def test_auto_dtype_picks_bfloat16_only_on_devices_with_native_support(tmp_path, monkeypatch):
    capability = {0: (8, 0), 1: (7, 5)}  # an A100 and a T4 in one host
    asked: list[int] = []

    def get_device_capability(device):
        asked.append(device.index)
        return capability[device.index]

    monkeypatch.setattr(torch.cuda, "get_device_capability", get_device_capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)  # what emulation reports
    manifest = write_manifest(tmp_path / "m.json", None, None, auto=_entry(dtype="auto"), half=_entry(dtype="float16"))
    libraries = gpu_libraries()
    auto = model_spec(read_manifest(manifest), "auto", "image")
    assert torch_dtype(libraries, auto, "cuda:0") == torch.bfloat16
    assert torch_dtype(libraries, auto, "cuda:1") == torch.float16
    assert asked == [0, 1]  # each device is asked about itself
    assert torch_dtype(libraries, model_spec(read_manifest(manifest), "half", "image"), "cuda:0") == torch.float16
    assert torch_dtype(libraries, auto, "cpu") == torch.float32


# ---------------------------------------------------------------- resident pipelines


def test_the_least_recently_used_pipeline_is_evicted(tmp_path, monkeypatch, fresh_pools):
    loads = Loads(monkeypatch)
    entries = {"first": _entry(dtype="float16"), "second": _entry(dtype="bfloat16")}  # two pipelines of one folder
    first = build_image_generator(_settings(tmp_path, entries, "first", diffusers_max_loaded=1))
    second = build_image_generator(_settings(tmp_path, entries, "second", diffusers_max_loaded=1))
    _draw(first, tmp_path / "a.png")
    _draw(second, tmp_path / "b.png")
    assert asyncio.run(first.status()).detail == "loads on first use"
    assert asyncio.run(second.status()).detail == "loaded on cpu"
    _draw(second, tmp_path / "c.png")
    _draw(first, tmp_path / "d.png")
    assert loads.names == ["first", "second", "first"]


def test_two_pipelines_stay_loaded_with_room_for_two(tmp_path, monkeypatch, fresh_pools):
    loads = Loads(monkeypatch)
    entries = {"first": _entry(dtype="float16"), "second": _entry(dtype="bfloat16")}
    first = build_image_generator(_settings(tmp_path, entries, "first", diffusers_max_loaded=2))
    second = build_image_generator(_settings(tmp_path, entries, "second", diffusers_max_loaded=2))
    for index, generator in enumerate((first, second, first, second)):
        _draw(generator, tmp_path / f"{index}.png")
    assert loads.names == ["first", "second"]


def test_a_load_out_of_memory_evicts_the_others_and_tries_again(tmp_path, monkeypatch, fresh_pools):
    loads = Loads(monkeypatch, fail={"second": torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 30.00 GiB")})
    entries = {"first": _entry(dtype="float16"), "second": _entry(dtype="bfloat16")}
    first = build_image_generator(_settings(tmp_path, entries, "first", diffusers_max_loaded=2))
    second = build_image_generator(_settings(tmp_path, entries, "second", diffusers_max_loaded=2))
    _draw(first, tmp_path / "a.png")
    _draw(second, tmp_path / "b.png")
    assert loads.names == ["first", "second", "second"]
    assert asyncio.run(first.status()).detail == "loads on first use"


def _broken_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "broken-sd"
    shutil.copytree(tiny_models().image, folder)
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"truncated download")
    return folder


@pytest.mark.parametrize("retry_s", [300.0, 0.0])
def test_a_failed_load_is_remembered_until_the_retry_time(tmp_path, monkeypatch, fresh_pools, retry_s):
    loads = Loads(monkeypatch)
    entries = {"broken": _entry(path=str(_broken_copy(tmp_path)))}
    generator = build_image_generator(_settings(tmp_path, entries, "broken", diffusers_load_retry_s=retry_s))
    errors = []
    for index in range(2):
        with pytest.raises(BackendError) as failed:
            _draw(generator, tmp_path / f"{index}.png")
        errors.append(failed.value.message)
    assert all("loading it from" in error and "broken-sd" in error for error in errors)
    status = asyncio.run(generator.status())
    assert status.ready is False and "loading on cpu failed" in status.detail
    if retry_s:
        assert loads.names == ["broken"]  # the second job was answered from memory
        assert "s ago" in errors[1] and "tried again in" in errors[1] and "DIFFUSERS_LOAD_RETRY_S" in errors[1]
    else:
        assert loads.names == ["broken", "broken"]


# ---------------------------------------------------------------- device health


def test_a_sticky_cuda_error_marks_the_device_unhealthy(tmp_path, monkeypatch, fresh_pools):
    calls: list[int] = []
    original = StableDiffusionPipeline.__call__

    @functools.wraps(original)
    def crashing(pipe, *args, **kwargs):
        calls.append(1)
        raise torch.AcceleratorError("CUDA error: an illegal memory access was encountered\nCompile with `TORCH_USE_CUDA_DSA`")

    monkeypatch.setattr(StableDiffusionPipeline, "__call__", crashing)
    generator = build_image_generator(_settings(tmp_path, {"crashy": _entry()}, "crashy", diffusers_max_loaded=3))
    with pytest.raises(BackendError) as first:
        _draw(generator, tmp_path / "a.png")
    assert "unusable until a restart" in first.value.message and "illegal memory access" in first.value.message
    status = asyncio.run(generator.status())
    assert status.ready is False and "cpu is unhealthy" in status.detail and "restart the service" in status.detail
    with pytest.raises(BackendUnavailable, match="no healthy diffusers device is left"):
        _draw(generator, tmp_path / "b.png")
    assert calls == [1]  # the unhealthy device took no more work


def test_an_ordinary_failure_keeps_the_device_healthy(tmp_path, monkeypatch, fresh_pools):
    original = StableDiffusionPipeline.__call__

    @functools.wraps(original)
    def failing(pipe, *args, **kwargs):
        raise RuntimeError("CUDA error: out of range index in the prompt embedding")

    monkeypatch.setattr(StableDiffusionPipeline, "__call__", failing)
    generator = build_image_generator(_settings(tmp_path, {"flaky": _entry()}, "flaky", diffusers_max_loaded=3))
    with pytest.raises(BackendError, match="the pipeline failed"):
        _draw(generator, tmp_path / "a.png")
    assert asyncio.run(generator.status()).ready is True


def test_the_worker_thread_selects_its_cuda_device(monkeypatch):
    selected: list[tuple[str, str]] = []
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: selected.append((str(device), threading.current_thread().name)))
    queue = BatchQueue()
    worker = DeviceWorker("cuda:1", queue, gpu_libraries())
    _until(lambda: selected, "set_device")
    queue.close()
    worker.join(timeout=WAIT_S)
    assert selected == [("cuda:1", "diffusers-cuda:1")]


# ---------------------------------------------------------------- warm-up and compile


class Calls:
    """Every StableDiffusionPipeline call: its batch, size, thread, and whether the compile lock was held."""

    def __init__(self, monkeypatch, hold_s: float = 0.0):
        self.seen: list[dict] = []
        original = StableDiffusionPipeline.__call__

        @functools.wraps(original)
        def recording(pipe, *args, **kwargs):
            record = {"batch": len(kwargs["prompt"]), "size": (kwargs["width"], kwargs["height"]), "locked": COMPILE_LOCK.locked(),
                      "worker": threading.get_ident(),
                      "recompile_limit": torch._dynamo.config.recompile_limit, "start": time.monotonic()}
            time.sleep(hold_s)
            try:
                return original(pipe, *args, **kwargs)
            finally:
                record["end"] = time.monotonic()
                self.seen.append(record)

        monkeypatch.setattr(StableDiffusionPipeline, "__call__", recording)


def test_warm_up_runs_a_full_batch_at_the_default_size_on_start(tmp_path, monkeypatch, fresh_pools):
    calls = Calls(monkeypatch)
    loads = Loads(monkeypatch)
    settings = _settings(tmp_path, {"warm": _entry()}, "warm", diffusers_warm_up=True, diffusers_max_batch=3)
    generator = build_image_generator(settings)  # returns at once; the device warms up in the background
    _until(lambda: calls.seen, "the warm-up call")
    assert [(call["batch"], call["size"]) for call in calls.seen] == [(3, (80, 48))]  # 320x180 (16:9, 180p) at 64x64 pixels
    _until(lambda: asyncio.run(generator.status()).detail == "loaded on cpu", "the status")
    _draw(generator, tmp_path / "a.png", width=320, height=180)
    assert loads.names == ["warm"]


def test_compiles_take_turns_and_a_compiled_shape_runs_unlocked(tmp_path, monkeypatch, fresh_pools):
    compiled: list[str] = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *args, **kwargs: compiled.append(type(self).__name__))
    monkeypatch.setattr(loading, "devices", lambda libraries, settings: ("cpu", "cpu"))  # two workers
    calls = Calls(monkeypatch, hold_s=0.2)
    generator = build_image_generator(_settings(tmp_path, {"compiled": _entry()}, "compiled", diffusers_compile=True, diffusers_max_batch=1))

    async def two_sizes() -> None:
        await asyncio.gather(*(generator.generate(
            ImageRequest(prompt="a harbour", subject="", narration="", style="", width=width, height=64, seed=1), tmp_path / f"{width}.png",
            StageContext()) for width in (64, 128)))

    asyncio.run(two_sizes())
    first, second = sorted(calls.seen, key=lambda call: call["start"])
    assert first["locked"] and second["locked"]
    assert second["start"] >= first["end"]  # one compile at a time, even when each runs on its own device
    assert compiled and set(compiled) == {"BasicTransformerBlock"}  # regional: the UNet's repeated blocks, not the whole UNet
    assert {call["recompile_limit"] for call in calls.seen} == {RECOMPILE_LIMIT}
    assert torch._dynamo.config.recompile_limit != RECOMPILE_LIMIT  # set on the workers' threads only
    for index in range(4):
        _draw(generator, tmp_path / f"again{index}.png")  # 64x64 again, on whichever device takes it
    shapes_run: set[tuple] = set()
    for call in sorted(calls.seen, key=lambda call: call["start"]):
        first_time = (call["worker"], call["size"]) not in shapes_run
        assert call["locked"] is first_time  # only a shape new to that device's pipeline waits for the lock
        shapes_run.add((call["worker"], call["size"]))
    assert [call["locked"] for call in calls.seen].count(False) >= 2


def test_models_that_name_their_repeated_blocks_compile_only_those():
    class Blocks:
        _repeated_blocks = ["WanTransformerBlock"]

        def __init__(self):
            self.regional = 0

        def compile_repeated_blocks(self):
            self.regional += 1

        def compile(self):
            raise AssertionError("compiled whole")

    blocks = Blocks()
    assert compile_denoiser(blocks) == "regional: WanTransformerBlock" and blocks.regional == 1
