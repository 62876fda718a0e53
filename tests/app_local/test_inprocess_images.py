"""Keyframes from a tiny random StableDiffusionPipeline loaded from disk through the real builder."""

from __future__ import annotations

import asyncio
import functools
import threading
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("diffusers", reason="needs requirements-gpu.txt")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel  # noqa: E402
from PIL import Image  # noqa: E402

from app_local.inprocess import build_image_generator  # noqa: E402
from app_local.inprocess.images import GENERATION_SHARE  # noqa: E402
from story2video.errors import BackendError, OperationCancelled  # noqa: E402
from story2video.providers.base import CharacterLook, ImageRequest, StageContext  # noqa: E402
from story2video.providers.picture_prompt import picture_prompt  # noqa: E402
from tests.conftest import small_settings  # noqa: E402
from tests.fakes.tiny_pipelines import tiny_models, write_manifest  # noqa: E402

SEEDS = (11, 22, 33, 44)


def _request(seed: int, width: int = 96, height: int = 64, prompt: str = "a lighthouse at dawn") -> ImageRequest:
    return ImageRequest(prompt=prompt, subject="lighthouse", narration="", style="watercolor", width=width, height=height, seed=seed)


def _generator(tmp_path: Path, model: str = "tiny-sd", window_s: float = 0.3, max_batch: int = 4, **fields):
    """A generator over the tiny model registered as ``model`` (own name = own batch-size memory)."""
    entry = {"stage": "image", "pipeline": "StableDiffusionPipeline", "path": str(tiny_models().image), "dtype": "float16",
             "steps": 2, "guidance": 5.0, "width": 64, "height": 64, "size_multiple": 16, "max_batch": 8, **fields}
    manifest = write_manifest(tmp_path / "manifest.json", None, None, **{model: entry})
    settings = small_settings(tmp_path, diffusers_manifest=manifest, diffusers_device="cpu", diffusers_image_model=model,
                              diffusers_batch_window_s=window_s, diffusers_max_batch=max_batch)
    return build_image_generator(settings)


class PipelineCalls:
    """Records every call of StableDiffusionPipeline (batch size and size); may fail some like an OOM."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_above: int | None = None, error: type[Exception] = torch.OutOfMemoryError):
        self.batches: list[int] = []
        self.sizes: list[tuple[int, int]] = []
        self.pipes: list[StableDiffusionPipeline] = []
        self.prompts: list[tuple[list[str], list[str] | None]] = []  # (prompt, negative_prompt) of each call
        original = StableDiffusionPipeline.__call__

        @functools.wraps(original)  # keeps the signature the backend inspects
        def call(pipe, *args, **kwargs):
            self.batches.append(len(kwargs["prompt"]))
            self.sizes.append((kwargs["width"], kwargs["height"]))
            self.pipes.append(pipe)
            self.prompts.append((kwargs["prompt"], kwargs.get("negative_prompt")))
            if fail_above is not None and len(kwargs["prompt"]) > fail_above:
                raise error("CUDA out of memory. Tried to allocate 20.00 GiB")
            return original(pipe, *args, **kwargs)

        monkeypatch.setattr(StableDiffusionPipeline, "__call__", call)


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


async def _generate_all(generator, folder: Path, seeds, ctx: StageContext | None = None) -> list[Path]:
    paths = [folder / f"seed-{seed}.png" for seed in seeds]
    await asyncio.gather(*(generator.generate(_request(seed), path, ctx or StageContext()) for seed, path in zip(seeds, paths)))
    return paths


def _alone(generator, folder: Path, seed: int) -> np.ndarray:
    path = folder / f"alone-{seed}.png"
    asyncio.run(generator.generate(_request(seed), path, StageContext()))
    return _pixels(path)


def test_the_png_has_exactly_the_requested_size(tmp_path, monkeypatch):
    calls = PipelineCalls(monkeypatch)
    generator = _generator(tmp_path)
    result = asyncio.run(generator.generate(_request(5, width=100, height=60), tmp_path / "k.png", StageContext()))
    with Image.open(tmp_path / "k.png") as image:
        assert (image.format, image.size) == ("PNG", (100, 60))
    assert calls.sizes == [(80, 48)]  # the request's aspect at the model's 64x64 pixels, in multiples of 16
    assert result.actual_prompt == picture_prompt(_request(5)).text == "a lighthouse at dawn. Style: watercolor."


def test_the_pipeline_gets_the_shared_wording_with_the_cast_and_the_manifests_negative(tmp_path, monkeypatch):
    calls = PipelineCalls(monkeypatch)
    generator = _generator(tmp_path, model="tiny-sd-negative", negative_prompt="lowres")
    look = CharacterLook("Zhang Ming", "a 28-year-old man, slim, short black hair, grey hoodie")
    request = replace(_request(3), characters=(look,), subtitled=True)
    asyncio.run(generator.generate(request, tmp_path / "k.png", StageContext()))
    worded = picture_prompt(request, "lowres")
    assert calls.prompts == [([worded.text], [worded.negative])]
    assert look.appearance in worded.text and worded.negative.startswith("lowres, text")


def test_concurrent_requests_share_a_pipeline_call_and_match_their_solo_images(tmp_path, monkeypatch):
    calls = PipelineCalls(monkeypatch)
    generator = _generator(tmp_path, max_batch=4)
    paths = asyncio.run(_generate_all(generator, tmp_path, SEEDS))
    assert calls.batches == [4]
    alone = {seed: _alone(generator, tmp_path, seed) for seed in SEEDS}
    assert calls.batches == [4, 1, 1, 1, 1]
    for seed, path in zip(SEEDS, paths):
        assert np.abs(_pixels(path) - alone[seed]).max() <= 1, f"seed {seed} changed with its batch"
    assert np.abs(alone[SEEDS[0]] - alone[SEEDS[1]]).mean() > 5  # different seeds: different pictures


def test_batches_never_exceed_the_max_batch_setting(tmp_path, monkeypatch):
    calls = PipelineCalls(monkeypatch)
    generator = _generator(tmp_path, max_batch=3)
    asyncio.run(_generate_all(generator, tmp_path, range(7)))
    assert sorted(calls.batches, reverse=True) == [3, 3, 1]


def test_progress_follows_the_denoising_steps(tmp_path):
    generator = _generator(tmp_path, steps=3)
    reported: list[float] = []
    asyncio.run(generator.generate(_request(1), tmp_path / "k.png", StageContext(progress=reported.append)))
    assert reported == pytest.approx([GENERATION_SHARE / 3, GENERATION_SHARE * 2 / 3, GENERATION_SHARE, 1.0])


def test_cancelling_interrupts_the_pipeline(tmp_path, monkeypatch):
    calls = PipelineCalls(monkeypatch)
    denoised: list[int] = []
    forward = UNet2DConditionModel.forward

    def counting_forward(self, *args, **kwargs):
        denoised.append(1)
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(UNet2DConditionModel, "forward", counting_forward)
    decodes = _count_decodes(monkeypatch)
    generator = _generator(tmp_path, model="tiny-sd-cancel", steps=6)
    ctx = StageContext(is_cancelled=lambda: len(denoised) >= 1)  # cancelled during the first step
    with pytest.raises(OperationCancelled):
        asyncio.run(generator.generate(_request(1), tmp_path / "k.png", ctx))
    assert not (tmp_path / "k.png").exists()
    assert calls.pipes[0].interrupt is True
    assert len(denoised) == 1  # the other five steps were skipped
    assert decodes == []  # and so was the VAE decode


def _count_decodes(monkeypatch) -> list[int]:
    decodes: list[int] = []
    decode = AutoencoderKL.decode

    def counting_decode(self, latents, *args, **kwargs):
        decodes.append(latents.shape[0])
        return decode(self, latents, *args, **kwargs)

    monkeypatch.setattr(AutoencoderKL, "decode", counting_decode)
    return decodes


def _upcast_then_fail(monkeypatch, error: Exception) -> list[torch.dtype]:
    """The first VAE decode does what diffusers does for an fp16 VAE (cast it up for the decode), then fails."""
    decode = AutoencoderKL.decode
    seen: list[torch.dtype] = []

    def failing_once(self, latents, *args, **kwargs):
        seen.append(self.dtype)
        if len(seen) == 1:
            self.to(dtype=torch.float64)
            raise error
        return decode(self, latents, *args, **kwargs)

    monkeypatch.setattr(AutoencoderKL, "decode", failing_once)
    return seen


def test_an_out_of_memory_inside_an_upcast_decode_leaves_the_pipeline_usable(tmp_path, monkeypatch):
    seen = _upcast_then_fail(monkeypatch, torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB"))
    calls = PipelineCalls(monkeypatch)
    generator = _generator(tmp_path, model="tiny-sd-decode-oom", max_batch=2)
    paths = asyncio.run(_generate_all(generator, tmp_path, SEEDS[:2]))
    assert calls.batches == [2, 1, 1]  # the halves ran on a VAE cast back to its own dtype
    assert seen == [torch.float32] * 3 and calls.pipes[0].vae.dtype == torch.float32
    assert all(path.exists() for path in paths)


def test_any_failed_call_gives_the_components_their_dtype_back(tmp_path, monkeypatch):
    seen = _upcast_then_fail(monkeypatch, ValueError("decode went wrong"))
    generator = _generator(tmp_path, model="tiny-sd-decode-error")
    with pytest.raises(BackendError, match="decode went wrong"):
        asyncio.run(generator.generate(_request(1), tmp_path / "first.png", StageContext()))
    asyncio.run(generator.generate(_request(1), tmp_path / "second.png", StageContext()))
    assert seen == [torch.float32, torch.float32]


def test_the_vae_decodes_a_batch_one_image_at_a_time(tmp_path, monkeypatch):
    calls = PipelineCalls(monkeypatch)
    generator = _generator(tmp_path, model="tiny-sd-slicing")
    asyncio.run(_generate_all(generator, tmp_path, SEEDS[:2]))
    assert calls.batches == [2] and calls.pipes[0].vae.use_slicing is True
    assert calls.pipes[0].vae.use_tiling is False
    tiled = _generator(tmp_path, model="tiny-sd-tiling", vae_tiling=True)
    asyncio.run(tiled.generate(_request(1), tmp_path / "tiled.png", StageContext()))
    assert calls.pipes[-1].vae.use_tiling is True


def test_a_cancelled_request_never_reaches_the_pipeline(tmp_path, monkeypatch):
    calls = PipelineCalls(monkeypatch)
    generator = _generator(tmp_path)
    with pytest.raises(OperationCancelled):
        asyncio.run(generator.generate(_request(1), tmp_path / "k.png", StageContext(is_cancelled=lambda: True)))
    assert calls.batches == []


def test_a_request_cancelled_while_queued_leaves_the_queue(tmp_path, monkeypatch):
    release = threading.Event()
    started = threading.Event()
    original = StableDiffusionPipeline.__call__

    @functools.wraps(original)
    def blocking(pipe, *args, **kwargs):
        started.set()
        release.wait(30)
        return original(pipe, *args, **kwargs)

    monkeypatch.setattr(StableDiffusionPipeline, "__call__", blocking)
    generator = _generator(tmp_path, window_s=0.0)
    cancel = threading.Event()

    async def scenario():
        busy = asyncio.create_task(generator.generate(_request(1), tmp_path / "first.png", StageContext()))
        await asyncio.to_thread(started.wait, 30)
        queued = asyncio.create_task(generator.generate(_request(2), tmp_path / "second.png", StageContext(is_cancelled=cancel.is_set)))
        await asyncio.sleep(0.2)
        cancel.set()
        with pytest.raises(OperationCancelled):
            await queued  # answered while the device is still busy with the first request
        assert not busy.done()
        release.set()
        await busy

    asyncio.run(scenario())
    assert (tmp_path / "first.png").exists() and not (tmp_path / "second.png").exists()


def test_out_of_memory_halves_the_batch_and_keeps_every_image(tmp_path, monkeypatch):
    calls = PipelineCalls(monkeypatch, fail_above=1)
    generator = _generator(tmp_path, model="tiny-sd-oom", max_batch=4)
    paths = asyncio.run(_generate_all(generator, tmp_path, SEEDS))
    assert calls.batches == [4, 2, 1, 1, 2, 1, 1]
    calls.batches.clear()
    alone = _alone(generator, tmp_path, SEEDS[2])
    assert np.abs(_pixels(paths[2]) - alone).max() <= 1
    again = tmp_path / "again"
    again.mkdir()
    asyncio.run(_generate_all(generator, again, SEEDS[:2]))
    assert calls.batches == [1, 1, 1]  # the smaller batch size is remembered for this model


def test_out_of_memory_for_a_single_image_is_a_clear_error(tmp_path, monkeypatch):
    calls = PipelineCalls(monkeypatch, fail_above=0, error=RuntimeError)  # torch's older "CUDA out of memory" RuntimeError
    generator = _generator(tmp_path, model="tiny-sd-oom-always")

    async def both() -> list[BaseException | None]:
        requests = [generator.generate(_request(seed), tmp_path / f"{seed}.png", StageContext()) for seed in SEEDS[:2]]
        return await asyncio.gather(*requests, return_exceptions=True)

    errors = asyncio.run(both())
    assert calls.batches == [2, 1, 1]
    for error in errors:
        assert isinstance(error, BackendError) and (error.stage, error.backend) == ("keyframes", "diffusers")
        assert "out of memory on cpu even for a single image" in error.message and "DIFFUSERS_CPU_OFFLOAD" in error.message


def test_a_pipeline_failure_is_a_backend_error(tmp_path, monkeypatch):
    PipelineCalls(monkeypatch, fail_above=0, error=ValueError)
    generator = _generator(tmp_path)
    with pytest.raises(BackendError, match="the pipeline failed: ValueError"):
        asyncio.run(generator.generate(_request(1), tmp_path / "k.png", StageContext()))


def test_status_says_where_the_model_is_loaded(tmp_path):
    generator = _generator(tmp_path, model="tiny-sd-status")
    before = asyncio.run(generator.status())
    assert (before.backend, before.model, before.ready, before.detail, before.location) == (
        "diffusers", "tiny-sd-status", True, "loads on first use", "cpu",
    )
    asyncio.run(generator.generate(_request(1), tmp_path / "k.png", StageContext()))
    assert asyncio.run(generator.status()).detail == "loaded on cpu"


def test_a_request_abandoned_on_the_device_interrupts_the_pipeline(tmp_path, monkeypatch):
    release = threading.Event()
    started = threading.Event()
    interrupted_after: list[bool] = []
    original = StableDiffusionPipeline.__call__

    @functools.wraps(original)
    def gated(pipe, *args, **kwargs):
        step_end = kwargs["callback_on_step_end"]

        def wait_then_report(*step_args):
            started.set()
            release.wait(30)  # the caller gives up while the first step is on the device
            return step_end(*step_args)

        try:
            return original(pipe, *args, **{**kwargs, "callback_on_step_end": wait_then_report})
        finally:
            interrupted_after.append(pipe.interrupt)

    monkeypatch.setattr(StableDiffusionPipeline, "__call__", gated)
    generator = _generator(tmp_path, model="tiny-sd-timeout", steps=4, window_s=0.0)

    async def scenario():
        late = asyncio.create_task(generator.generate(_request(1), tmp_path / "late.png", StageContext()))
        await asyncio.to_thread(started.wait, 30)
        late.cancel()  # what a keyframe timeout (asyncio.wait_for) does to the awaiting task
        with pytest.raises(asyncio.CancelledError):
            await late
        release.set()
        await generator.generate(_request(2), tmp_path / "next.png", StageContext())  # the device is serial

    asyncio.run(scenario())
    assert interrupted_after == [True, False]
    assert not (tmp_path / "late.png").exists() and (tmp_path / "next.png").exists()
