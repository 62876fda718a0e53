"""Clips on PixVerse (VIDEO_BACKEND=pixverse) against a fake speaking its platform API: the happy path,
each failure a user meets, and resuming a generation instead of paying for it again."""

from __future__ import annotations

import asyncio
import time
from typing import Iterator

import pytest
from PIL import Image
from pydantic import ValidationError

import app_api
import app_local
from app_api.dashscope.errors import ContentRejected
from app_api.pixverse import VIDEO_JOB, PixVerseVideoGenerator
from story2video.errors import BackendError, BackendUnavailable
from story2video.providers.base import ClipRequest, StageContext
from story2video.stagecontext import MemoryJobLedger
from tests.conftest import create_body, small_settings
from tests.fakes.pixverse import FAIL_MARKER, MARKER, REVIEW_MARKER, Canned, FakePixVerse


@pytest.fixture
def pixverse(ffmpeg_path) -> Iterator[FakePixVerse]:
    fake = FakePixVerse(ffmpeg_path).start()
    yield fake
    fake.stop()


def generator(pixverse: FakePixVerse, tmp_path, **overrides) -> PixVerseVideoGenerator:
    return PixVerseVideoGenerator(small_settings(tmp_path, **{**pixverse.settings(), **overrides}))


def animate(gen: PixVerseVideoGenerator, tmp_path, prompt: str = "the keeper lights the lamp", jobs=None):
    keyframe = tmp_path / "keyframe.png"
    Image.new("RGB", (320, 180), (30, 60, 90)).save(keyframe)
    request = ClipRequest(keyframe=keyframe, prompt=prompt, camera="slow push in", duration=4.2, width=320, height=180, fps=12, seed=7)
    ctx = StageContext(jobs=jobs) if jobs is not None else StageContext()
    return asyncio.run(gen.animate(request, tmp_path / "clip.mp4", ctx))


def test_a_clip_is_uploaded_generated_polled_and_downloaded(pixverse, tmp_path) -> None:
    clip = animate(generator(pixverse, tmp_path), tmp_path)
    assert clip.duration == pytest.approx(5.0, abs=0.1) and clip.path.stat().st_size > 0
    assert pixverse.counts == {"uploads": 1, "generations": 1, "polls": 3, "downloads": 1}
    generation = next(iter(pixverse.generations.values()))
    assert "slow push in" in generation.prompt  # the camera direction goes with the prompt
    assert len(set(pixverse.trace_ids)) == len(pixverse.trace_ids) and all(pixverse.trace_ids)  # a fresh Ai-trace-id each


def test_a_generation_noted_before_a_crash_is_polled_not_paid_again(pixverse, tmp_path) -> None:
    jobs = MemoryJobLedger()
    first = generator(pixverse, tmp_path)
    first.settings = first.settings.model_copy(update={"pixverse_task_timeout_s": 0.001})  # the first worker "dies" while waiting
    pixverse.polls_until_done = 3
    with pytest.raises(BackendError):
        animate(first, tmp_path, jobs=jobs)
    assert jobs.recall(VIDEO_JOB) is not None and pixverse.counts["generations"] == 1
    animate(generator(pixverse, tmp_path), tmp_path, jobs=jobs)  # the worker that takes over
    assert pixverse.counts["generations"] == 1 and pixverse.counts["uploads"] == 1
    assert jobs.recall(VIDEO_JOB) is None


@pytest.mark.parametrize(
    "refusal",
    [(10005, "Invalid API-KEY"), (400012, "Invalid account"), (999, "invalid api key")],
    ids=["message", "documented-invalid-account", "unknown-code"],
)
def test_a_rejected_key_says_which_setting(pixverse, tmp_path, refusal) -> None:
    """PixVerse's error-code table gives a rejected key no code (its troubleshooting page names the
    message "Invalid API-KEY"): the message or 400012 "Invalid account" is what tells it."""
    pixverse.key_refusal = refusal
    with pytest.raises(BackendUnavailable, match=rf"PIXVERSE_API_KEY was rejected \({refusal[0]}"):
        animate(generator(pixverse, tmp_path, pixverse_api_key="wrong"), tmp_path)
    status = asyncio.run(generator(pixverse, tmp_path, pixverse_api_key="wrong").status())
    assert not status.ready and "PIXVERSE_API_KEY was rejected" in status.detail


def test_a_key_refused_with_http_401_and_no_pixverse_body(pixverse, tmp_path) -> None:
    pixverse.canned.append(Canned(401, {"message": "Unauthorized"}))
    with pytest.raises(BackendUnavailable, match="PIXVERSE_API_KEY was rejected"):
        animate(generator(pixverse, tmp_path), tmp_path)


def test_used_up_credits_say_what_to_do_and_ready_shows_them(pixverse, tmp_path) -> None:
    gen = generator(pixverse, tmp_path)
    assert "1000 credits left" in asyncio.run(gen.status()).detail
    pixverse.credits = 0
    with pytest.raises(BackendUnavailable, match=r"credits are used up \(500090: Insufficient balance"):
        animate(gen, tmp_path)  # 500090, as PixVerse's error-code table documents it
    status = asyncio.run(gen.status())
    assert not status.ready and "no credits" in status.detail


def test_credits_are_recognised_by_their_words_under_another_code(pixverse, tmp_path) -> None:
    pixverse.canned += [Canned(200, {"ErrCode": 500043, "ErrMsg": "All Credits have been used up", "Resp": None})]
    with pytest.raises(BackendUnavailable, match=r"credits are used up \(500043"):
        animate(generator(pixverse, tmp_path), tmp_path)


def test_moderation_before_generating_names_pixverses_code(pixverse, tmp_path) -> None:
    message = "Text moderation failed: The text you entered contains sensitive information. Please re-enter."
    pixverse.canned += [Canned(200, {"ErrCode": 500063, "ErrMsg": message, "Resp": None})]
    with pytest.raises(ContentRejected, match="500063"):
        animate(generator(pixverse, tmp_path), tmp_path)


def test_moderation_and_a_failed_generation_fail_the_clip_with_pixverses_words(pixverse, tmp_path) -> None:
    with pytest.raises(ContentRejected, match="500054"):
        animate(generator(pixverse, tmp_path), tmp_path, prompt=f"a {MARKER} scene")
    jobs = MemoryJobLedger()
    with pytest.raises(BackendError, match="status 8"):
        animate(generator(pixverse, tmp_path), tmp_path, prompt=f"a {FAIL_MARKER}", jobs=jobs)
    assert jobs.recall(VIDEO_JOB) is None  # a failed generation is not polled again
    with pytest.raises(ContentRejected, match="status 7"):
        animate(generator(pixverse, tmp_path), tmp_path, prompt=f"a {REVIEW_MARKER} scene")


def test_a_429_is_retried_after_its_retry_after(pixverse, tmp_path) -> None:
    pixverse.canned.append(Canned(429, {"ErrCode": 429, "ErrMsg": "Too many requests"}, {"Retry-After": "1"}))
    started = time.monotonic()
    animate(generator(pixverse, tmp_path), tmp_path)
    assert time.monotonic() - started >= 0.9 and pixverse.counts["generations"] == 1


def test_the_accounts_limit_of_generations_at_once_is_waited_out(pixverse, tmp_path) -> None:
    pixverse.busy = 2
    animate(generator(pixverse, tmp_path), tmp_path)
    assert pixverse.counts["generations"] == 1


def test_an_expired_result_link_is_asked_for_again_once(pixverse, tmp_path) -> None:
    pixverse.expire_downloads = 1
    clip = animate(generator(pixverse, tmp_path), tmp_path)
    assert clip.path.stat().st_size > 0 and pixverse.counts["downloads"] == 2 and pixverse.counts["generations"] == 1


def test_options_pixverse_does_not_draw_are_refused_at_start_up(tmp_path) -> None:
    with pytest.raises(ValidationError, match="1080p"):
        small_settings(tmp_path, pixverse_quality="1080p", pixverse_duration=8)
    with pytest.raises(ValidationError, match="fast"):
        small_settings(tmp_path, pixverse_motion_mode="fast", pixverse_duration=8)


@pytest.mark.parametrize("mode", [app_api, app_local], ids=["cloud", "local"])
def test_the_seeds_three_calls_with_pixverse_clips(make_client, pixverse, tmp_path, mode) -> None:
    chosen = dict(
        local_inference=mode is app_local, video_backend="pixverse", storyboard_backend="preview",
        image_backend="preview", speech_backend="preview", **pixverse.settings(),
    )  # fmt: skip
    client = make_client(providers=mode.build_providers(small_settings(tmp_path, **chosen)), **chosen)
    created = client.post("/api/v1/storyboard/create", json=create_body())
    assert created.status_code == 200, created.text
    shots = created.json()["shots"]
    regenerated = client.post("/api/v1/shot/regenerate", json={"operation_id": "op-2", "story_id": "story-001", "user_id": "u-001", "shot_id": shots[0]["id"], "detail": "a red lamp"})
    assert regenerated.status_code == 200, regenerated.text
    rendered = client.post("/api/v1/video/render", json={"operation_id": "op-3", "story_id": "story-001", "user_id": "u-001"})
    assert rendered.status_code == 200, rendered.text
    assert pixverse.counts["generations"] == len(shots)
    clips = next(b for b in client.get("/ready").json()["backends"] if b["stage"] == "clips")
    assert clips["backend"] == "pixverse" and clips["ready"]
