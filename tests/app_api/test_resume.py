"""Never paying twice: a DashScope task noted in the job ledger is polled by the next provider that
makes the same artifact (a worker taking over after a crash) instead of being submitted again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PIL import Image

from app_api.dashscope.backends import DashScopeKit
from app_api.dashscope.images import IMAGE_JOB
from app_api.dashscope.video import VIDEO_JOB
from story2video.errors import BackendError, OperationCancelled
from story2video.providers.base import ClipRequest, ImageRequest, StageContext
from tests.fakes.dashscope import Canned, error_body
from tests.fakes.ledger import RecordingLedger, crash_once_noted


def image_request(prompt: str = "晨雾中的木窗，远山") -> ImageRequest:
    return ImageRequest(prompt=prompt, subject="木窗", narration="清晨", style="写实", width=320, height=180, seed=7)


def clip_request(tmp_path: Path) -> ClipRequest:
    keyframe = tmp_path / "keyframe.png"
    Image.new("RGB", (320, 180), (200, 120, 40)).save(keyframe)
    return ClipRequest(keyframe=keyframe, prompt="纸船漂向远方", camera="缓缓推近", duration=3.2, width=320, height=180, fps=12, seed=3)


def draw(kit: DashScopeKit, dest: Path, ledger: RecordingLedger, request: ImageRequest | None = None):
    return kit.image().generate(request or image_request(), dest, StageContext(jobs=ledger))


def polls_of(dashscope, task_id: str) -> int:
    return len(dashscope.paths(f"/api/v1/tasks/{task_id}"))


def test_a_keyframe_task_outlives_the_provider_that_submitted_it(cloud_settings, dashscope, tmp_path):
    dashscope.task_seconds["image"] = 0.3
    ledger = RecordingLedger()
    task_id = asyncio.run(crash_once_noted(draw(DashScopeKit(cloud_settings()), tmp_path / "lost.png", ledger), ledger, IMAGE_JOB))
    polls_before = polls_of(dashscope, task_id)
    assert not (tmp_path / "lost.png").exists() and dashscope.submissions["image"] == 1

    result = asyncio.run(draw(DashScopeKit(cloud_settings()), tmp_path / "k.png", ledger))  # a new worker's provider

    assert dashscope.submissions["image"] == 1 and polls_of(dashscope, task_id) > polls_before
    with Image.open(tmp_path / "k.png") as image:
        assert (image.format, image.size) == ("PNG", (320, 180))
    assert result.actual_prompt.startswith("晨雾中的木窗")
    assert ledger.recall(IMAGE_JOB) is None and ledger.remembered(IMAGE_JOB) == [task_id]


def test_a_clip_task_outlives_the_provider_that_submitted_it(cloud_settings, dashscope, tmp_path):
    dashscope.task_seconds["video"] = 0.3
    ledger = RecordingLedger()
    first = DashScopeKit(cloud_settings()).video().animate(clip_request(tmp_path), tmp_path / "lost.mp4", StageContext(jobs=ledger))
    task_id = asyncio.run(crash_once_noted(first, ledger, VIDEO_JOB))

    clip = asyncio.run(DashScopeKit(cloud_settings()).video().animate(clip_request(tmp_path), tmp_path / "c.mp4", StageContext(jobs=ledger)))

    assert dashscope.submissions["video"] == 1 and polls_of(dashscope, task_id) >= 1
    assert clip.duration == pytest.approx(5.0, abs=0.1) and clip.path.stat().st_size > 0
    assert ledger.recall(VIDEO_JOB) is None


def test_a_task_dashscope_no_longer_knows_is_submitted_once_anew(kit, dashscope, tmp_path):
    ledger = RecordingLedger({IMAGE_JOB: "0b1e5c4e-expired-task"})  # the fake answers UNKNOWN, as for an expired task
    asyncio.run(draw(kit, tmp_path / "k.png", ledger))
    assert dashscope.submissions["image"] == 1 and polls_of(dashscope, "0b1e5c4e-expired-task") == 1
    [new_id] = ledger.remembered(IMAGE_JOB)
    assert new_id in dashscope.tasks and ledger.recall(IMAGE_JOB) is None
    assert (tmp_path / "k.png").is_file()


def test_a_task_lookup_answering_404_is_submitted_once_anew(kit, dashscope, tmp_path):
    dashscope.canned["task"].append(Canned(404, error_body("NotFound", "task not found")))
    ledger = RecordingLedger({IMAGE_JOB: "gone"})
    asyncio.run(draw(kit, tmp_path / "k.png", ledger))
    assert dashscope.submissions["image"] == 1 and len(ledger.remembered(IMAGE_JOB)) == 1
    assert (tmp_path / "k.png").is_file()


def test_a_resumed_task_that_failed_is_reported_and_forgotten_not_resubmitted(cloud_settings, dashscope, tmp_path):
    dashscope.task_seconds["image"] = 0.3
    dashscope.task_outcomes.append({"task_status": "FAILED", "code": "InternalError.Algo", "message": "algorithm exploded"})
    ledger = RecordingLedger()
    task_id = asyncio.run(crash_once_noted(draw(DashScopeKit(cloud_settings()), tmp_path / "k.png", ledger), ledger, IMAGE_JOB))
    with pytest.raises(BackendError) as caught:
        asyncio.run(draw(DashScopeKit(cloud_settings()), tmp_path / "k.png", ledger))
    assert f"task {task_id}" in caught.value.message and "algorithm exploded" in caught.value.message
    assert dashscope.submissions["image"] == 1 and ledger.recall(IMAGE_JOB) is None


def test_a_cancelled_operation_keeps_its_task_for_the_next_run(kit, dashscope, tmp_path):
    dashscope.polls_until_done = 6
    polls = iter(range(10**6))
    ledger = RecordingLedger()
    with pytest.raises(OperationCancelled):
        ctx = StageContext(is_cancelled=lambda: next(polls) >= 3, jobs=ledger)
        asyncio.run(kit.image().generate(image_request(), tmp_path / "k.png", ctx))
    assert ledger.recall(IMAGE_JOB) is not None
    asyncio.run(draw(kit, tmp_path / "k.png", ledger))
    assert dashscope.submissions["image"] == 1 and (tmp_path / "k.png").is_file()


def test_an_expired_result_is_forgotten_and_its_resubmission_noted(kit, dashscope, tmp_path):
    dashscope.expire_downloads = 1
    ledger = RecordingLedger()
    asyncio.run(draw(kit, tmp_path / "k.png", ledger))
    first, second = ledger.remembered(IMAGE_JOB)
    assert first != second and dashscope.submissions["image"] == 2
    assert ledger.calls == [
        ("remember", IMAGE_JOB, first), ("forget", IMAGE_JOB, ""), ("remember", IMAGE_JOB, second), ("forget", IMAGE_JOB, ""),
    ]


def test_a_moderated_task_is_forgotten_and_the_softened_one_noted(kit, dashscope, tmp_path):
    dashscope.task_outcomes.append({"task_status": "FAILED", "code": "DataInspectionFailed", "message": "Output data may contain inappropriate content."})
    ledger = RecordingLedger()
    asyncio.run(draw(kit, tmp_path / "k.png", ledger))
    first, second = ledger.remembered(IMAGE_JOB)
    assert [call for call, _, _ in ledger.calls] == ["remember", "forget", "remember", "forget"]
    assert first != second and dashscope.submissions["image"] == 2


def test_a_resumed_task_rejected_by_moderation_gets_one_softened_resubmission(cloud_settings, dashscope, tmp_path):
    dashscope.task_seconds["image"] = 0.3
    dashscope.task_outcomes.append({"task_status": "FAILED", "code": "DataInspectionFailed", "message": "Output data may contain inappropriate content."})
    ledger = RecordingLedger()
    task_id = asyncio.run(crash_once_noted(draw(DashScopeKit(cloud_settings()), tmp_path / "k.png", ledger), ledger, IMAGE_JOB))
    asyncio.run(draw(DashScopeKit(cloud_settings()), tmp_path / "k.png", ledger))
    assert dashscope.submissions["image"] == 2 and len(dashscope.paths("/compatible-mode/v1/chat/completions")) == 1
    [_, softened_id] = ledger.remembered(IMAGE_JOB)
    assert softened_id != task_id and ledger.recall(IMAGE_JOB) is None and (tmp_path / "k.png").is_file()

