"""Never paying twice on ComfyUI: the prompt noted in the job ledger (``host|prompt_id``) is resumed
on its host by the next provider that makes the same artifact (a worker taking over after a crash):
its outputs fetched when the history has them, waited for while it is queued, and queued anew only
when its host is gone from the settings, unreachable, or knows nothing of it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from app_local.comfy.client import ComfyClient
from app_local.comfy.clips import ComfyVideoGenerator
from app_local.comfy.images import ComfyImageGenerator
from app_local.comfy.ledger import PROMPT_JOB, QueuedPrompt
from app_local.comfy.pool import ComfyHostPool
from app_local.comfy.prompt import JobTimings
from app_local.comfy.runner import WorkflowRunner
from app_local.comfy.workflow import load_workflow
from story2video.config import Settings
from story2video.errors import BackendError, OperationCancelled
from story2video.media.clips import ClipEncoder
from story2video.media.ffmpeg import locate_ffmpeg
from story2video.providers.base import StageContext
from tests.fakes.comfy_support import ComfyFactory, clip_request, comfy_settings, fake_comfy_hosts, image_request, keyframe
from tests.fakes.ledger import RecordingLedger, crash_once_noted

INVERTED_BLUE = (0xCC, 0x99, 0x66)  # the fake text-to-image workflow's 0x336699, inverted


@pytest.fixture
def comfy_servers(tmp_path: Path) -> Iterator[ComfyFactory]:
    with fake_comfy_hosts(tmp_path) as start:
        yield start


def worker_runner(settings: Settings) -> WorkflowRunner:
    """What a freshly started worker process builds: a host pool of its own that knows nothing yet."""
    pool = ComfyHostPool(
        settings.comfy_host_list,
        request_timeout_s=settings.comfy_request_timeout_s,
        health_interval_s=settings.comfy_health_interval_s,
        max_attempts=settings.comfy_max_attempts,
    )
    timings = JobTimings(settings.comfy_request_timeout_s, settings.comfy_job_timeout_s, settings.comfy_ws_stall_s)
    return WorkflowRunner(pool, timings)


def image_generator(settings: Settings) -> ComfyImageGenerator:
    return ComfyImageGenerator(load_workflow(settings.comfy_image_workflow, "image"), worker_runner(settings))


def draw(settings: Settings, dest: Path, ledger: RecordingLedger, progress: list[float] | None = None):
    ctx = StageContext(progress=(progress if progress is not None else []).append, jobs=ledger)
    return image_generator(settings).generate(image_request(), dest, ctx)


def assert_the_keyframe(path: Path) -> None:
    with Image.open(path) as image:
        assert (image.format, image.size) == ("PNG", (100, 60))
        assert image.convert("RGB").getpixel((50, 30)) == INVERTED_BLUE


def wait_until(condition, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def crash_after_queueing(settings: Settings, tmp_path: Path, ledger: RecordingLedger) -> QueuedPrompt:
    queued = asyncio.run(crash_once_noted(draw(settings, tmp_path / "lost.png", ledger), ledger, PROMPT_JOB))
    prompt = QueuedPrompt.parse(queued)
    assert prompt is not None
    return prompt


def test_a_prompt_finished_while_nobody_watched_is_fetched_from_the_history(tmp_path, comfy_servers):
    server = comfy_servers(node_delay_s=0.05)
    settings = comfy_settings(tmp_path, server)
    ledger = RecordingLedger()
    earlier = crash_after_queueing(settings, tmp_path, ledger)
    assert earlier.host == server.url and earlier.prompt_id == server.queued_ids[0]
    wait_until(lambda: earlier.prompt_id in server.history)  # the crash did not take the prompt off the host
    assert server.interrupts == [] and server.queue_deletes == []

    asyncio.run(draw(settings, tmp_path / "k.png", ledger))

    assert server.submissions == 1 and server.socket_connects.count(earlier.prompt_id) == 1  # no new socket needed
    assert_the_keyframe(tmp_path / "k.png")
    assert ledger.recall(PROMPT_JOB) is None and ledger.remembered(PROMPT_JOB) == [earlier.job_id]


def test_a_prompt_still_running_is_waited_for(tmp_path, comfy_servers):
    server = comfy_servers(node_delay_s=0.3)
    settings = comfy_settings(tmp_path, server)
    ledger = RecordingLedger()
    earlier = crash_after_queueing(settings, tmp_path, ledger)
    assert earlier.prompt_id not in server.history
    progress: list[float] = []

    asyncio.run(draw(settings, tmp_path / "k.png", ledger, progress))

    assert server.submissions == 1
    assert server.socket_connects.count(earlier.prompt_id) >= 2  # the same clientId again: its messages reach us
    assert_the_keyframe(tmp_path / "k.png")
    assert len(progress) > 2 and progress == sorted(progress) and progress[-1] == 1.0
    assert ledger.recall(PROMPT_JOB) is None


def test_a_prompt_still_pending_behind_another_is_waited_for(tmp_path, comfy_servers):
    server = comfy_servers(node_delay_s=0.15)
    settings = comfy_settings(tmp_path, server)
    blocker = asyncio.run(_queue_foreign_prompt(settings))
    ledger = RecordingLedger()
    earlier = crash_after_queueing(settings, tmp_path, ledger)
    assert earlier.prompt_id in [item.prompt_id for item in server.pending]

    asyncio.run(draw(settings, tmp_path / "k.png", ledger))

    assert server.queued_ids == [blocker, earlier.prompt_id]
    assert_the_keyframe(tmp_path / "k.png")


async def _queue_foreign_prompt(settings: Settings) -> str:
    """Another client's prompt, so that ours waits in the pending queue."""
    workflow = load_workflow(settings.comfy_image_workflow, "image")
    graph = workflow.fill({"prompt": "someone else's", "seed": 1, "width": 64, "height": 64})
    async with ComfyClient.open(settings.comfy_host_list[0], 5.0) as client:
        return await client.submit(graph, str(uuid.uuid4()), "someone-else", workflow.output_node)


def test_a_prompt_the_host_does_not_know_is_queued_once_anew(tmp_path, comfy_servers):
    server = comfy_servers()
    unknown = QueuedPrompt(server.url, str(uuid.uuid4()))
    ledger = RecordingLedger({PROMPT_JOB: unknown.job_id})
    asyncio.run(draw(comfy_settings(tmp_path, server), tmp_path / "k.png", ledger))
    assert server.submissions == 1
    [noted] = ledger.remembered(PROMPT_JOB)
    assert noted == QueuedPrompt(server.url, server.queued_ids[0]).job_id != unknown.job_id
    assert_the_keyframe(tmp_path / "k.png")
    assert ledger.recall(PROMPT_JOB) is None


def test_a_host_restarted_since_is_used_again_for_the_new_prompt(tmp_path, comfy_servers):
    """A restart loses queue and history; the host answers, so it is not marked down for it."""
    server = comfy_servers(node_delay_s=0.3)
    settings = comfy_settings(tmp_path, server)
    ledger = RecordingLedger()
    crash_after_queueing(settings, tmp_path, ledger)
    server.restart()
    runner = worker_runner(settings)
    generator = ComfyImageGenerator(load_workflow(settings.comfy_image_workflow, "image"), runner)
    asyncio.run(generator.generate(image_request(), tmp_path / "k.png", StageContext(jobs=ledger)))
    assert server.submissions == 2 and len(ledger.remembered(PROMPT_JOB)) == 2
    assert all(host.up for host in runner.pool.host_states())
    assert_the_keyframe(tmp_path / "k.png")


def test_a_host_no_longer_configured_gets_the_prompt_queued_anew(tmp_path, comfy_servers):
    server = comfy_servers()
    ledger = RecordingLedger({PROMPT_JOB: QueuedPrompt("http://127.0.0.1:9", "a-prompt-on-a-retired-host").job_id})
    asyncio.run(draw(comfy_settings(tmp_path, server), tmp_path / "k.png", ledger))
    assert server.submissions == 1 and ledger.recall(PROMPT_JOB) is None
    assert_the_keyframe(tmp_path / "k.png")


def test_an_unreachable_host_gets_the_prompt_queued_on_another(tmp_path, comfy_servers):
    first, second = comfy_servers(node_delay_s=0.3), comfy_servers()
    settings = comfy_settings(tmp_path, first, second)
    ledger = RecordingLedger()
    earlier = crash_after_queueing(settings, tmp_path, ledger)
    dead = first if earlier.host == first.url else second
    alive = second if dead is first else first
    dead.kill()

    asyncio.run(draw(settings, tmp_path / "k.png", ledger))

    assert (dead.submissions, alive.submissions) == (1, 1)
    assert ledger.remembered(PROMPT_JOB)[-1] == QueuedPrompt(alive.url, alive.queued_ids[0]).job_id
    assert_the_keyframe(tmp_path / "k.png")


def test_a_prompt_that_failed_is_reported_and_forgotten_not_requeued(tmp_path, comfy_servers):
    server = comfy_servers(node_delay_s=0.2)
    server.fail_node("ImageInvert", "ValueError", "the pixels are upside down")
    settings = comfy_settings(tmp_path, server)
    ledger = RecordingLedger()
    crash_after_queueing(settings, tmp_path, ledger)
    with pytest.raises(BackendError, match="the pixels are upside down"):
        asyncio.run(draw(settings, tmp_path / "k.png", ledger))
    assert server.submissions == 1 and ledger.recall(PROMPT_JOB) is None


def test_a_cancelled_operation_drops_its_prompt_and_forgets_it(tmp_path, comfy_servers):
    server = comfy_servers(node_delay_s=5.0)
    ledger = RecordingLedger()
    ctx = StageContext(is_cancelled=server.started.is_set, jobs=ledger)
    with pytest.raises(OperationCancelled):
        asyncio.run(image_generator(comfy_settings(tmp_path, server)).generate(image_request(), tmp_path / "k.png", ctx))
    assert server.queue_deletes == server.queued_ids and ledger.recall(PROMPT_JOB) is None


def test_a_clip_is_resumed_without_uploading_its_keyframe_again(tmp_path, comfy_servers):
    server = comfy_servers(node_delay_s=0.2)
    settings = comfy_settings(tmp_path, server)
    encoder = ClipEncoder(ffmpeg=locate_ffmpeg(), preset=settings.x264_preset, crf=settings.video_crf)
    workflow = load_workflow(settings.comfy_video_workflow, "video")
    request = clip_request(keyframe(tmp_path / "keyframe.png"), duration=2.0, fps=12)
    ledger = RecordingLedger()

    def animate(dest: Path):
        return ComfyVideoGenerator(workflow, worker_runner(settings), encoder).animate(request, dest, StageContext(jobs=ledger))

    asyncio.run(crash_once_noted(animate(tmp_path / "lost.mp4"), ledger, PROMPT_JOB))
    clip = asyncio.run(animate(tmp_path / "clip.mp4"))

    assert (server.submissions, len(server.uploads)) == (1, 1)
    assert clip.duration == pytest.approx(8 / 6, abs=0.05) and clip.path.stat().st_size > 0
    assert ledger.recall(PROMPT_JOB) is None
