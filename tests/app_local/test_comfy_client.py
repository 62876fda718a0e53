"""The ComfyUI providers end to end against one fake host: keyframes, clips, and every way a prompt ends."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from PIL import Image

from app_local.comfy import build_image_generator, build_video_generator
from app_local.comfy.workflow import binding_path
from story2video.config import PROJECT_ROOT
from story2video.errors import BackendError, BackendTimeout, BackendUnavailable, InvalidArtifact, OperationCancelled
from story2video.providers.base import StageContext
from story2video.providers.picture_prompt import picture_prompt
from tests.fakes.comfy_support import (
    IMAGE_TO_MP4,
    TEXT_TO_IMAGE,
    ComfyFactory,
    RecordingContext,
    clip_request,
    comfy_settings,
    fake_comfy_hosts,
    image_request,
    keyframe,
)


@pytest.fixture
def comfy_servers(tmp_path: Path) -> Iterator[ComfyFactory]:
    with fake_comfy_hosts(tmp_path) as start:
        yield start


def _decoded(path: Path) -> tuple[str, str, int, int, int]:
    """(codec, pixel format, width, height, frames) as PyAV decodes them."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return stream.codec_context.name, stream.codec_context.pix_fmt, stream.width, stream.height, frames


# ---------------------------------------------------------------- keyframes


def test_a_keyframe_end_to_end(tmp_path, comfy_servers):
    server = comfy_servers()
    generator = build_image_generator(comfy_settings(tmp_path, server))
    recorder = RecordingContext()
    dest = tmp_path / "keyframe.png"
    asyncio.run(generator.generate(image_request(100, 60, seed=2**40 + 5, negative_prompt="blurry"), dest, recorder.ctx))

    with Image.open(dest) as image:
        assert (image.format, image.size) == ("PNG", (100, 60))
        assert image.convert("RGB").getpixel((50, 30)) == (0xCC, 0x99, 0x66)  # the workflow's 0x336699, inverted
    body = server.prompts[0]
    assert uuid.UUID(body["prompt_id"]) and uuid.UUID(body["client_id"])
    graph = body["prompt"]
    assert graph["3"]["inputs"]["value"] == picture_prompt(image_request()).text == "a lighthouse at dawn. Style: watercolor."
    assert graph["4"]["inputs"]["value"] == "blurry, a placeholder negative prompt"  # the request's, then the workflow's own
    assert graph["5"]["inputs"]["seed"] == 2**40 + 5
    assert (graph["1"]["inputs"]["width"], graph["1"]["inputs"]["height"]) == (96, 64)  # multiples of 8
    assert len(recorder.reports) > 3  # websocket progress arrived, binary preview frames in between
    assert recorder.reports == sorted(recorder.reports) and recorder.reports[-1] == 1.0


def test_a_server_that_picks_its_own_prompt_id_is_followed(tmp_path, comfy_servers):
    server = comfy_servers(accepts_prompt_id=False)
    generator = build_image_generator(comfy_settings(tmp_path, server))
    asyncio.run(generator.generate(image_request(), tmp_path / "k.png", StageContext()))
    assert server.queued_ids[0] != server.prompts[0]["prompt_id"]
    with Image.open(tmp_path / "k.png") as image:
        assert image.size == (100, 60)


def test_the_result_is_cover_resized_to_the_exact_size(tmp_path, comfy_servers):
    server = comfy_servers()
    generator = build_image_generator(comfy_settings(tmp_path, server))
    asyncio.run(generator.generate(image_request(90, 50), tmp_path / "k.png", StageContext()))
    assert (server.prompts[0]["prompt"]["1"]["inputs"]["width"], server.prompts[0]["prompt"]["1"]["inputs"]["height"]) == (88, 48)
    with Image.open(tmp_path / "k.png") as image:
        assert image.size == (90, 50)


def test_a_workflow_without_a_negative_input_gets_the_negative_in_its_prompt(tmp_path, comfy_servers):
    server = comfy_servers()
    workflow = tmp_path / "no_negative.json"
    workflow.write_text(TEXT_TO_IMAGE.read_text())
    binding = json.loads(binding_path(TEXT_TO_IMAGE).read_text())
    del binding["inputs"]["negative_prompt"]
    binding_path(workflow).write_text(json.dumps(binding))
    generator = build_image_generator(comfy_settings(tmp_path, server, comfy_image_workflow=workflow))
    request = image_request(negative_prompt="blurry", subtitled=True)
    asyncio.run(generator.generate(request, tmp_path / "k.png", StageContext()))
    graph = server.prompts[0]["prompt"]
    assert graph["3"]["inputs"]["value"] == picture_prompt(request).inline
    assert graph["3"]["inputs"]["value"].endswith("Avoid: blurry, text, letters, captions, subtitles, watermark.")
    assert graph["4"]["inputs"]["value"] == "a placeholder negative prompt"  # unbound: left as the workflow has it


def test_an_unreadable_output_names_comfyui_and_the_file(tmp_path, comfy_servers, monkeypatch):
    server = comfy_servers()
    generator = build_image_generator(comfy_settings(tmp_path, server))

    async def garbage(job, folder, ctx, progress):
        broken = folder / "keyframe_00001_.png"
        broken.write_bytes(b"not a picture")
        return broken

    monkeypatch.setattr(generator._runner, "run", garbage)
    with pytest.raises(InvalidArtifact, match=r"ComfyUI's output keyframe_00001_.png is not a readable image: cannot identify") as caught:
        asyncio.run(generator.generate(image_request(), tmp_path / "k.png", StageContext()))
    assert caught.value.backend == "comfyui" and str(tmp_path) not in caught.value.message


# ---------------------------------------------------------------- clips


def test_a_clip_from_an_animated_webp(tmp_path, comfy_servers):
    server = comfy_servers()
    generator = build_video_generator(comfy_settings(tmp_path, server))
    still = keyframe(tmp_path / "keyframe.png")
    recorder = RecordingContext()
    dest = tmp_path / "clip.mp4"
    clip = asyncio.run(generator.animate(clip_request(still, duration=2.0, fps=12), dest, recorder.ctx))

    assert clip.path == dest
    assert clip.duration == pytest.approx(8 / 6, abs=0.05)  # max_fps 6, max_frames 8: shorter than asked
    assert _decoded(dest) == ("h264", "yuv420p", 96, 56, 8)
    graph = server.prompts[0]["prompt"]
    assert graph["1"]["inputs"]["image"] == server.uploads[0]
    assert (server.folders.input / server.uploads[0]).read_bytes() == still.read_bytes()
    assert (graph["5"]["inputs"]["amount"], graph["7"]["inputs"]["fps"], graph["6"]["inputs"]["seed"]) == (8, 6, 7)
    assert recorder.reports == sorted(recorder.reports) and recorder.reports[-1] == 1.0


def test_a_clip_from_core_save_video(tmp_path, comfy_servers):
    server = comfy_servers()
    generator = build_video_generator(comfy_settings(tmp_path, server, comfy_video_workflow=IMAGE_TO_MP4))
    dest = tmp_path / "clip.mp4"
    clip = asyncio.run(generator.animate(clip_request(keyframe(tmp_path / "k.png"), duration=2.0, fps=12), dest, StageContext()))
    assert clip.duration == pytest.approx(1.0, abs=0.05)  # 12 frames (max_frames) at 12 fps
    assert _decoded(dest) == ("h264", "yuv420p", 96, 56, 12)
    assert server.prompts[0]["prompt"]["4"]["inputs"]["fps"] == 12


# ---------------------------------------------------------------- failures


def test_a_rejected_workflow_names_node_class_and_input(tmp_path, comfy_servers):
    """What the model check cannot see (here a value over its input's maximum) ComfyUI refuses with
    a 400; that would fail on any host, so it is not retried."""
    server = comfy_servers()
    workflow = tmp_path / "too_strong.json"
    graph = json.loads(TEXT_TO_IMAGE.read_text())
    graph["5"]["inputs"]["strength"] = 5.0
    workflow.write_text(json.dumps(graph))
    binding_path(workflow).write_text(binding_path(TEXT_TO_IMAGE).read_text())
    generator = build_image_generator(comfy_settings(tmp_path, server, comfy_image_workflow=workflow))
    with pytest.raises(BackendError) as caught:
        asyncio.run(generator.generate(image_request(), tmp_path / "k.png", StageContext()))
    message = caught.value.message
    assert "node 5 (ImageAddNoise) input strength: Value 5.0 bigger than max of 1.0" in message and server.url in message
    assert not isinstance(caught.value, BackendUnavailable)
    assert len(server.prompts) == 1


def test_an_unknown_node_class_is_named_and_no_prompt_is_sent(tmp_path, comfy_servers):
    server = comfy_servers()  # it has no model loaders: the shipped SDXL workflow cannot run on it
    settings = comfy_settings(tmp_path, server, comfy_image_workflow=PROJECT_ROOT / "comfy_workflows" / "sdxl_text_to_image.json")
    generator = build_image_generator(settings)
    with pytest.raises(BackendUnavailable) as caught:
        asyncio.run(generator.generate(image_request(), tmp_path / "k.png", StageContext()))
    assert f"{server.url}: cannot run workflow 'sdxl-base-1.0': node classes not installed on this host:" in caught.value.message
    assert "node 4 (CheckpointLoaderSimple)" in caught.value.message
    assert server.prompts == []


def test_an_out_of_memory_error_says_so(tmp_path, comfy_servers):
    server = comfy_servers()
    server.fail_node("ImageInvert", "torch.OutOfMemoryError", "CUDA out of memory. Tried to allocate 2.00 GiB")
    generator = build_image_generator(comfy_settings(tmp_path, server))
    with pytest.raises(BackendError) as caught:
        asyncio.run(generator.generate(image_request(), tmp_path / "k.png", StageContext()))
    assert "ran out of GPU memory in node 2 (ImageInvert): CUDA out of memory" in caught.value.message


def test_an_execution_error_read_from_the_history(tmp_path, comfy_servers):
    server = comfy_servers()
    server.fail_node("ImageInvert", "ValueError", "the pixels are upside down")
    server.muted = True  # nothing on the socket: the error is found by polling /history
    generator = build_image_generator(comfy_settings(tmp_path, server, comfy_ws_stall_s=0.2))
    with pytest.raises(BackendError, match=r"failed in node 2 \(ImageInvert\): ValueError: the pixels are upside down"):
        asyncio.run(generator.generate(image_request(), tmp_path / "k.png", StageContext()))


def test_cancel_interrupts_the_prompt_on_its_host(tmp_path, comfy_servers):
    server = comfy_servers(node_delay_s=5.0)
    generator = build_image_generator(comfy_settings(tmp_path, server))
    recorder = RecordingContext(cancel_when=server.started.is_set)
    with pytest.raises(OperationCancelled, match="was told to drop prompt"):
        asyncio.run(generator.generate(image_request(), tmp_path / "k.png", recorder.ctx))
    prompt_id = server.prompts[0]["prompt_id"]
    assert server.interrupts == [{"prompt_id": prompt_id}]
    assert server.queue_deletes == [prompt_id]
    assert not (tmp_path / "k.png").exists()


def test_a_prompt_past_the_job_timeout_is_dropped(tmp_path, comfy_servers):
    server = comfy_servers(node_delay_s=5.0)
    generator = build_image_generator(comfy_settings(tmp_path, server, comfy_job_timeout_s=0.3))
    with pytest.raises(BackendTimeout, match="COMFY_JOB_TIMEOUT_S"):
        asyncio.run(generator.generate(image_request(), tmp_path / "k.png", StageContext()))
    assert server.interrupts == [{"prompt_id": server.prompts[0]["prompt_id"]}]


# ---------------------------------------------------------------- the socket and the history


def test_success_before_the_history_is_written_is_not_the_end(tmp_path, comfy_servers):
    server = comfy_servers(history_delay_s=0.5)  # execution_success, then half a second of empty history
    generator = build_image_generator(comfy_settings(tmp_path, server))
    asyncio.run(generator.generate(image_request(), tmp_path / "k.png", StageContext()))
    with Image.open(tmp_path / "k.png") as image:
        assert image.size == (100, 60)


def test_a_socket_dropped_mid_job_is_reopened_with_the_same_client_id(tmp_path, comfy_servers):
    server = comfy_servers(node_delay_s=0.4)
    generator = build_image_generator(comfy_settings(tmp_path, server))

    async def scenario() -> None:
        job = asyncio.create_task(generator.generate(image_request(), tmp_path / "k.png", StageContext()))
        await asyncio.to_thread(server.started.wait, 10)
        await asyncio.to_thread(server.drop_sockets)
        await job

    asyncio.run(scenario())
    client_id = server.prompts[0]["client_id"]
    assert server.socket_connects.count(client_id) >= 2
    with Image.open(tmp_path / "k.png") as image:
        assert image.size == (100, 60)


def test_a_silent_socket_falls_back_to_polling_the_history(tmp_path, comfy_servers):
    server = comfy_servers()
    server.muted = True  # connected, but not a single message
    generator = build_image_generator(comfy_settings(tmp_path, server, comfy_ws_stall_s=0.2))
    recorder = RecordingContext()
    asyncio.run(generator.generate(image_request(), tmp_path / "k.png", recorder.ctx))
    assert recorder.reports == [1.0]  # no progress came over the socket
    with Image.open(tmp_path / "k.png") as image:
        assert image.size == (100, 60)
