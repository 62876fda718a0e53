"""The host pool: parallel shots spread over hosts, a host dying or restarting mid-job, all hosts down."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from app_local.comfy import build_image_generator, build_video_generator
from app_local.comfy.images import ComfyImageGenerator
from app_local.comfy.pool import ComfyHostPool
from app_local.comfy.prompt import JobTimings
from app_local.comfy.runner import WorkflowRunner
from app_local.comfy.workflow import load_workflow
from story2video.errors import BackendUnavailable
from story2video.providers.base import StageContext
from tests.fakes.comfy_support import (
    MISSING_MODEL,
    TEXT_TO_IMAGE,
    ComfyFactory,
    comfy_settings,
    fake_comfy_hosts,
    image_request,
)


@pytest.fixture
def comfy_servers(tmp_path: Path) -> Iterator[ComfyFactory]:
    with fake_comfy_hosts(tmp_path) as start:
        yield start


def _free_url() -> str:
    """An address nothing listens on: a host that is down."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def _size(path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def test_two_shots_at_once_run_on_different_hosts(tmp_path, comfy_servers):
    first, second = comfy_servers(node_delay_s=0.2), comfy_servers(node_delay_s=0.2)
    generator = build_image_generator(comfy_settings(tmp_path, first, second))

    async def two_shots() -> None:
        await asyncio.gather(
            generator.generate(image_request(seed=1), tmp_path / "a.png", StageContext()),
            generator.generate(image_request(seed=2), tmp_path / "b.png", StageContext()),
        )

    asyncio.run(two_shots())
    assert (len(first.prompts), len(second.prompts)) == (1, 1)
    assert _size(tmp_path / "a.png") == _size(tmp_path / "b.png") == (100, 60)


def test_a_shot_goes_to_the_host_with_the_shorter_queue(tmp_path, comfy_servers):
    busy, idle = comfy_servers(node_delay_s=3.0), comfy_servers()
    foreign = {"prompt": load_workflow(TEXT_TO_IMAGE, "image").graph, "client_id": "someone-else"}
    httpx.post(f"{busy.url}/prompt", json=foreign).raise_for_status()
    generator = build_image_generator(comfy_settings(tmp_path, busy, idle))
    asyncio.run(generator.generate(image_request(), tmp_path / "k.png", StageContext()))
    assert (len(busy.prompts), len(idle.prompts)) == (1, 1)


def test_a_host_killed_mid_job_is_marked_down_and_the_shot_runs_on_another(tmp_path, comfy_servers):
    doomed, healthy = comfy_servers(node_delay_s=5.0), comfy_servers()
    generator = build_image_generator(comfy_settings(tmp_path, doomed, healthy))

    async def scenario():
        job = asyncio.create_task(generator.generate(image_request(), tmp_path / "k.png", StageContext()))
        await asyncio.to_thread(doomed.started.wait, 10)
        await asyncio.to_thread(doomed.kill)
        await job
        return await generator.status()

    status = asyncio.run(scenario())
    assert (len(doomed.prompts), len(healthy.prompts)) == (1, 1)
    assert _size(tmp_path / "k.png") == (100, 60)
    assert status.ready
    assert status.location == f"{doomed.url} (down), {healthy.url} (up)"
    assert "1/2 ComfyUI hosts up" in status.detail and "Fake GPU 0" in status.detail


def test_a_host_that_restarts_mid_job_loses_the_prompt_and_the_shot_moves(tmp_path, comfy_servers):
    restarting, healthy = comfy_servers(node_delay_s=5.0), comfy_servers()
    generator = build_image_generator(comfy_settings(tmp_path, restarting, healthy))

    async def scenario() -> None:
        job = asyncio.create_task(generator.generate(image_request(), tmp_path / "k.png", StageContext()))
        await asyncio.to_thread(restarting.started.wait, 10)
        await asyncio.to_thread(restarting.restart)  # back at once, with an empty queue and history
        await job

    asyncio.run(scenario())
    assert (len(restarting.prompts), len(healthy.prompts)) == (1, 1)
    assert _size(tmp_path / "k.png") == (100, 60)


def test_all_hosts_down_names_every_url_and_why(tmp_path):
    urls = (_free_url(), _free_url())
    generator = build_image_generator(comfy_settings(tmp_path, urls=urls))
    with pytest.raises(BackendUnavailable) as caught:
        asyncio.run(generator.generate(image_request(), tmp_path / "k.png", StageContext()))
    for url in urls:
        assert f"{url}: GET /queue failed" in caught.value.message
    assert "no ComfyUI host is available" in caught.value.message
    status = asyncio.run(generator.status())
    assert not status.ready and status.location == f"{urls[0]} (down), {urls[1]} (down)"


def test_attempts_are_bounded(tmp_path, comfy_servers):
    servers = [comfy_servers(node_delay_s=5.0) for _ in range(3)]
    generator = build_image_generator(comfy_settings(tmp_path, *servers, comfy_max_attempts=2))

    async def kill_whoever_starts() -> None:
        for _ in range(2):
            started = await asyncio.to_thread(_first_started, servers)
            await asyncio.to_thread(started.kill)
            started.started.clear()

    async def scenario() -> None:
        killer = asyncio.create_task(kill_whoever_starts())
        with pytest.raises(BackendUnavailable, match=r"failed on 2 attempt\(s\) \(COMFY_MAX_ATTEMPTS\)"):
            await generator.generate(image_request(), tmp_path / "k.png", StageContext())
        await killer

    asyncio.run(scenario())
    assert sum(len(server.prompts) for server in servers) == 2


def _first_started(servers):
    while True:
        for server in servers:
            if server.started.wait(0.02):
                return server


def test_a_host_marked_down_is_skipped_until_the_health_interval_passes(tmp_path, comfy_servers):
    flaky, steady = comfy_servers(), comfy_servers()
    now = [0.0]
    pool = ComfyHostPool([flaky.url, steady.url], request_timeout_s=5, health_interval_s=30, max_attempts=2, clock=lambda: now[0])
    timings = JobTimings(request_timeout_s=5, job_timeout_s=30, ws_stall_s=5)
    generator = ComfyImageGenerator(load_workflow(TEXT_TO_IMAGE, "image"), WorkflowRunner(pool, timings))

    flaky.kill()
    asyncio.run(generator.generate(image_request(), tmp_path / "1.png", StageContext()))  # flaky found down
    flaky.start()
    asyncio.run(generator.generate(image_request(), tmp_path / "2.png", StageContext()))  # not asked again yet
    assert (len(flaky.prompts), len(steady.prompts)) == (0, 2)
    now[0] = 31.0
    asyncio.run(generator.generate(image_request(), tmp_path / "3.png", StageContext()))  # rechecked: up, and first
    assert (len(flaky.prompts), len(steady.prompts)) == (1, 2)


# ---------------------------------------------------------------- model files (GET /object_info/<class>)

UPSCALER = "4x-UltraSharp.pth"  # what the MISSING_MODEL workflow's UpscaleModelLoader names
LACKS_UPSCALER = f"node 7 (UpscaleModelLoader) input model_name: '{UPSCALER}' is not on this host (it has 2x-test.pth)"


def test_a_host_missing_the_model_file_is_not_ready_for_it_and_gets_no_prompt(tmp_path, comfy_servers):
    lacking, stocked = comfy_servers(), comfy_servers(upscale_models=(UPSCALER,))
    generator = build_image_generator(comfy_settings(tmp_path, lacking, stocked, comfy_image_workflow=MISSING_MODEL))

    status = asyncio.run(generator.status())
    assert status.ready
    assert status.location == f"{lacking.url} (lacks models), {stocked.url} (up)"
    assert f"{lacking.url}: up (Fake GPU 0 (70.0/80.0 GiB free)), but lacks {LACKS_UPSCALER}" in status.detail
    assert "2/2 ComfyUI hosts up, 1 with every model and node workflow 'fake-upscale' names" in status.detail

    async def two_shots() -> None:
        await asyncio.gather(*(generator.generate(image_request(seed=seed), tmp_path / f"{seed}.png", StageContext()) for seed in (1, 2)))

    asyncio.run(two_shots())
    assert (len(lacking.prompts), len(stocked.prompts)) == (0, 2)


def test_with_no_host_holding_the_model_ready_is_false_and_a_shot_fails_naming_node_input_file_and_host(tmp_path, comfy_servers):
    lacking = comfy_servers()
    generator = build_image_generator(comfy_settings(tmp_path, lacking, comfy_image_workflow=MISSING_MODEL))
    status = asyncio.run(generator.status())
    assert not status.ready and status.location == f"{lacking.url} (lacks models)"
    with pytest.raises(BackendUnavailable) as caught:
        asyncio.run(generator.generate(image_request(), tmp_path / "k.png", StageContext()))
    assert f"{lacking.url}: cannot run workflow 'fake-upscale': {LACKS_UPSCALER}" in caught.value.message
    assert lacking.prompts == []


def test_the_same_host_serves_a_workflow_whose_models_it_has(tmp_path, comfy_servers):
    """Lacking one workflow's model does not take the host away from the other workflow."""
    host = comfy_servers()
    settings = comfy_settings(tmp_path, host, comfy_image_workflow=MISSING_MODEL)
    lacking = build_image_generator(settings)
    with pytest.raises(BackendUnavailable):
        asyncio.run(lacking.generate(image_request(), tmp_path / "a.png", StageContext()))
    able = build_image_generator(comfy_settings(tmp_path, host))
    asyncio.run(able.generate(image_request(), tmp_path / "b.png", StageContext()))
    assert asyncio.run(able.status()).ready and len(host.prompts) == 1


def test_a_model_file_added_later_is_seen_after_the_health_interval(tmp_path, comfy_servers):
    host = comfy_servers()
    now = [0.0]
    pool = ComfyHostPool([host.url], request_timeout_s=5, health_interval_s=30, max_attempts=1, clock=lambda: now[0])
    timings = JobTimings(request_timeout_s=5, job_timeout_s=30, ws_stall_s=5)
    generator = ComfyImageGenerator(load_workflow(MISSING_MODEL, "image"), WorkflowRunner(pool, timings))
    with pytest.raises(BackendUnavailable, match="is not on this host"):
        asyncio.run(generator.generate(image_request(), tmp_path / "1.png", StageContext()))
    host.add_upscale_model(UPSCALER)
    with pytest.raises(BackendUnavailable, match="is not on this host"):  # the answer is kept for the interval
        asyncio.run(generator.generate(image_request(), tmp_path / "2.png", StageContext()))
    now[0] = 31.0
    asyncio.run(generator.generate(image_request(), tmp_path / "3.png", StageContext()))
    assert len(host.prompts) == 1


@pytest.mark.parametrize("combo_style", ["list", "COMBO"])
def test_choices_are_read_in_both_of_comfyuis_input_spec_shapes(tmp_path, comfy_servers, combo_style):
    lacking, stocked = comfy_servers(combo_style=combo_style), comfy_servers(combo_style=combo_style, upscale_models=(UPSCALER,))
    generator = build_image_generator(comfy_settings(tmp_path, lacking, stocked, comfy_image_workflow=MISSING_MODEL))
    status = asyncio.run(generator.status())
    assert status.ready and status.location == f"{lacking.url} (lacks models), {stocked.url} (up)"


def test_the_uploaded_image_input_is_not_checked_against_the_hosts_files(tmp_path, comfy_servers):
    """LoadImage lists the host's input folder, but the binding fills that input per request."""
    host = comfy_servers()
    generator = build_video_generator(comfy_settings(tmp_path, host))
    assert asyncio.run(generator.status()).ready


# ---------------------------------------------------------------- a host that hangs up: never a blank reason


def test_a_host_that_resets_connections_mid_prompt_gives_a_reason_in_the_error_and_in_ready(tmp_path, comfy_servers):
    doomed = comfy_servers(node_delay_s=5.0)
    generator = build_image_generator(comfy_settings(tmp_path, doomed, comfy_max_attempts=1))

    async def scenario() -> BackendUnavailable:
        job = asyncio.create_task(generator.generate(image_request(), tmp_path / "k.png", StageContext()))
        await asyncio.to_thread(doomed.started.wait, 10)
        await asyncio.to_thread(doomed.hang_up)
        with pytest.raises(BackendUnavailable) as caught:
            await job
        return caught.value

    error = asyncio.run(scenario())
    assert re.search(r"(GET|POST) /\S+ failed: \S", error.message), error.message
    assert "Connection reset by peer" in error.message
    status = asyncio.run(generator.status())
    assert not status.ready
    assert re.search(rf"{re.escape(doomed.url)}: down \(GET /system_stats failed: \S", status.detail), status.detail
    assert "Connection reset by peer" in status.detail
