"""Keyframes through DashScope image synthesis (async task, polling, download, cover fit), and what
happens when moderation, the task or the result URL gets in the way."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PIL import Image

from app_api.dashscope.errors import ContentRejected
from story2video.errors import BackendError, BackendTimeout
from story2video.providers.base import ImageRequest, StageContext
from tests.fakes.dashscope import MARKER


def request(width: int = 320, height: int = 180, prompt: str = "晨雾中的木窗，远山") -> ImageRequest:
    return ImageRequest(prompt=prompt, subject="木窗", narration="清晨", style="写实", width=width, height=height, seed=7)


def generate(kit, dest: Path, req: ImageRequest | None = None, ctx: StageContext | None = None):
    return asyncio.run(kit.image().generate(req or request(), dest, ctx or StageContext()))


def test_polls_until_succeeded_and_writes_an_exact_png(kit, dashscope, tmp_path):
    progress: list[float] = []
    result = generate(kit, tmp_path / "k.png", ctx=StageContext(progress=progress.append))
    with Image.open(tmp_path / "k.png") as image:
        assert (image.format, image.size) == ("PNG", (320, 180))
    submit = dashscope.paths("/api/v1/services/aigc/text2image")[0]
    assert submit.headers["x-dashscope-async"] == "enable"
    assert submit.body["model"] == "qwen-image-plus"
    assert submit.body["parameters"]["size"] == "1664*928"
    assert submit.body["input"]["prompt"].startswith("晨雾中的木窗")
    assert len(dashscope.paths("/api/v1/tasks/")) == 3  # PENDING, RUNNING, SUCCEEDED
    assert result.actual_prompt.endswith("(extended by the fake)")
    assert progress[:2] == [0.1, 0.5] and progress[-1] == 1.0


@pytest.mark.parametrize(("size", "asked"), [((180, 320), "928*1664"), ((240, 240), "1328*1328")])
def test_size_follows_the_aspect(kit, dashscope, tmp_path, size, asked):
    generate(kit, tmp_path / "k.png", request(*size))
    assert dashscope.paths("/api/v1/services/aigc/text2image")[0].body["parameters"]["size"] == asked
    with Image.open(tmp_path / "k.png") as image:
        assert image.size == size


def test_moderation_rejection_is_retried_once_with_a_softened_prompt(kit, dashscope, tmp_path):
    result = generate(kit, tmp_path / "k.png", request(prompt=f"a {MARKER} duel at dawn"))
    prompts = [r.body["input"]["prompt"] for r in dashscope.paths("/api/v1/services/aigc/text2image")]
    assert len(prompts) == 2 and MARKER in prompts[0] and prompts[1].startswith("a gentle duel at dawn")
    softening = dashscope.paths("/compatible-mode/v1/chat/completions")[0].body
    assert "response_format" not in softening and MARKER in softening["messages"][1]["content"]
    assert "gentle" in result.actual_prompt


def test_a_prompt_still_rejected_after_softening_fails_with_a_clear_reason(kit, dashscope, tmp_path):
    dashscope.soften_keeps_marker = True
    with pytest.raises(ContentRejected) as caught:
        generate(kit, tmp_path / "k.png", request(prompt=f"a {MARKER} duel"))
    assert "moderation rejected this shot's image prompt, also after the LLM softened it once" in caught.value.message
    assert "DataInspectionFailed" in caught.value.message
    assert len(dashscope.paths("/api/v1/services/aigc/text2image")) == 2
    assert not (tmp_path / "k.png").exists()


def test_failed_task_reports_the_providers_code_and_message(kit, dashscope, tmp_path):
    dashscope.task_outcomes.append({"task_status": "FAILED", "code": "InternalError.Algo", "message": "algorithm exploded"})
    with pytest.raises(BackendError) as caught:
        generate(kit, tmp_path / "k.png")
    assert "FAILED (InternalError.Algo: algorithm exploded)" in caught.value.message
    assert len(dashscope.paths("/api/v1/services/aigc/text2image")) == 1  # a failed task is not resubmitted


def test_failed_task_for_moderation_is_softened_like_a_rejected_submission(kit, dashscope, tmp_path):
    dashscope.task_outcomes.append({"task_status": "FAILED", "code": "DataInspectionFailed", "message": "Output data may contain inappropriate content."})
    generate(kit, tmp_path / "k.png")
    assert len(dashscope.paths("/api/v1/services/aigc/text2image")) == 2
    assert len(dashscope.paths("/compatible-mode/v1/chat/completions")) == 1


@pytest.mark.parametrize(("status", "words"), [("UNKNOWN", "is UNKNOWN to DashScope"), ("CANCELED", "was CANCELED")])
def test_unknown_or_cancelled_task_fails_the_shot(kit, dashscope, tmp_path, status, words):
    dashscope.task_outcomes.append({"task_status": status})
    with pytest.raises(BackendError) as caught:
        generate(kit, tmp_path / "k.png")
    assert words in caught.value.message


def test_a_task_that_never_finishes_times_out(cloud_settings, dashscope, tmp_path):
    from app_api.dashscope.backends import DashScopeKit

    dashscope.polls_until_done = 10**6
    kit = DashScopeKit(cloud_settings(dashscope_task_timeout_s=0.05))
    with pytest.raises(BackendTimeout) as caught:
        generate(kit, tmp_path / "k.png")
    assert "was still" in caught.value.message and "DASHSCOPE_TASK_TIMEOUT_S" in caught.value.message


def test_an_expired_result_url_is_resubmitted_once(kit, dashscope, tmp_path):
    dashscope.expire_downloads = 1
    generate(kit, tmp_path / "k.png")
    assert len(dashscope.paths("/api/v1/services/aigc/text2image")) == 2
    assert (tmp_path / "k.png").is_file()


def test_a_result_expired_twice_fails(kit, dashscope, tmp_path):
    dashscope.expire_downloads = 2
    with pytest.raises(BackendError) as caught:
        generate(kit, tmp_path / "k.png")
    assert "is gone (403)" in caught.value.message
    assert len(dashscope.paths("/api/v1/services/aigc/text2image")) == 2


def test_cancel_stops_polling(kit, dashscope, tmp_path):
    from story2video.errors import OperationCancelled

    dashscope.polls_until_done = 10**6
    polls = iter(range(10**6))
    with pytest.raises(OperationCancelled):
        generate(kit, tmp_path / "k.png", ctx=StageContext(is_cancelled=lambda: next(polls) >= 4))
    assert len(dashscope.paths("/api/v1/tasks/")) <= 4
