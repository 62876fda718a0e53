"""Cloud mode end to end: the seed's three requests against fake DashScope (and fake OSS), real FFmpeg."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest
from loguru import logger
from PIL import Image

from tests import mediacheck
from tests.api.test_seed_flow import REGENERATE, RENDER
from tests.conftest import create_body
from tests.fakes.dashscope import KEY, MARKER, Canned, error_body

STAGES = ("storyboard", "keyframes", "clips", "narration", "script")
SHORT_SCRIPT = "清晨，少女推开木窗。她背起画板走向河边。河面上漂着一只纸船。夜里，她听见了海浪的声音。"


def run_seed_requests(client, script: str | None = None) -> tuple[dict, dict, dict]:
    created = client.post("/api/v1/storyboard/create", json=create_body(**({"script_content": script} if script else {})))
    assert created.status_code == 200, created.text
    regenerated = client.post("/api/v1/shot/regenerate", json=REGENERATE)
    assert regenerated.status_code == 200, regenerated.text
    rendered = client.post("/api/v1/video/render", json=RENDER)
    assert rendered.status_code == 200, rendered.text
    return created.json(), regenerated.json(), rendered.json()


def story(client) -> dict:
    return client.get("/api/v1/stories/story-001", params={"user_id": "u-001"}).json()


def test_seed_requests_in_cloud_mode_make_a_real_mp4(make_client, dashscope):
    client = make_client(**dashscope.settings())
    created, regenerated, rendered = run_seed_requests(client)

    shots = created["shots"]
    assert all(shot["artifacts"]["image"]["backend"] == "dashscope" for shot in shots)
    assert regenerated["shot"]["detail"] == REGENERATE["detail"]
    video = client.get(rendered["video_url"]).content
    info = mediacheck.streams(video)
    assert (info.video_codec, info.audio_codec, info.width, info.height) == ("h264", "aac", 320, 180)
    final = story(client)
    for shot in final["shots"]:
        assert {shot["artifacts"][name]["backend"] for name in ("image", "audio")} == {"dashscope"}
        assert shot["artifacts"]["image"]["url"] == shot["artifacts"]["image"]["local_url"] == shot["image_url"]
        with Image.open(io.BytesIO(client.get(shot["image_url"]).content)) as image:
            assert image.size == (320, 180)
    assert info.duration == pytest.approx(sum(s["artifacts"]["video"]["duration"] for s in final["shots"]), abs=0.5)

    assert len(dashscope.tts_texts) == len(shots) and len(dashscope.paths("/api/v1/services/aigc/video-generation")) == len(shots)
    db = client.app.state.engine.deps.stories.db
    metas = [json.loads(row["meta"]) for row in db.fetch_all("SELECT meta FROM artifacts WHERE kind='keyframe'")]
    assert metas and all(meta["actual_prompt"].endswith("(extended by the fake)") for meta in metas)
    clips = db.fetch_all("SELECT backend, model FROM artifacts WHERE kind='clip'")
    assert {(row["backend"], row["model"]) for row in clips} == {("dashscope", "wan2.2-i2v-flash")}


def test_ready_shows_dashscope_for_every_stage(make_client, dashscope):
    ready = make_client(**dashscope.settings()).get("/ready").json()
    assert ready["ready"] is True and ready["mode"] == "cloud"
    assert {(b["stage"], b["backend"], b["ready"]) for b in ready["backends"]} == {(stage, "dashscope", True) for stage in STAGES}
    assert all(b["location"] == dashscope.url for b in ready["backends"])


def test_ready_says_so_when_the_key_is_wrong(make_client, dashscope):
    ready = make_client(**{**dashscope.settings(), "dashscope_api_key": "sk-wrong"})
    body = ready.get("/ready")
    assert body.status_code == 503
    assert all("DASHSCOPE_API_KEY was rejected" in b["detail"] for b in body.json()["backends"])


def test_without_a_key_preview_serves_and_ready_says_dashscope_is_not_configured(make_client):
    client = make_client()
    ready = client.get("/ready").json()
    assert ready["ready"] is True
    for backend in ready["backends"]:
        assert backend["backend"] == "preview"
        assert backend["detail"].startswith("DashScope is not configured (set DASHSCOPE_API_KEY)")
    created = client.post("/api/v1/storyboard/create", json=create_body())
    assert {shot["artifacts"]["image"]["backend"] for shot in created.json()["shots"]} == {"preview"}


def test_with_oss_artifacts_are_uploaded_and_linked_by_presigned_urls(make_client, dashscope, oss):
    client = make_client(**dashscope.settings(), **oss.settings())
    _, _, rendered = run_seed_requests(client, SHORT_SCRIPT)

    final = story(client)
    uploaded = set(oss.objects)
    for shot in final["shots"]:
        image = shot["artifacts"]["image"]
        assert shot["image_url"] == image["url"] and image["url"].startswith(f"{oss.endpoint}/{oss.bucket}/s2v/")
        assert "x-oss-signature=" in image["url"] and image["local_url"].startswith("http://testserver/api/v1/artifacts/")
        assert httpx.get(image["url"]).content == client.get(image["local_url"]).content
        assert shot["video_url"].startswith(oss.endpoint)
    assert rendered["video_url"].startswith(oss.endpoint) and final["video_url"].startswith(oss.endpoint)
    assert final["artifacts"]["video"]["local_url"].startswith("http://testserver/api/v1/artifacts/")
    assert mediacheck.streams(httpx.get(final["video_url"]).content).video_codec == "h264"
    rows = client.app.state.engine.deps.stories.db.fetch_all("SELECT kind, meta FROM artifacts")
    assert {row["kind"] for row in rows} >= {"keyframe", "clip", "segment", "video", "narration"}
    for row in rows:
        remote = json.loads(row["meta"]).get("remote")
        assert (remote is not None) == (row["kind"] in ("keyframe", "clip", "segment", "video")), row["kind"]
        if remote:
            assert remote["object"] in uploaded and remote["bucket"] == oss.bucket
    assert all(source.startswith(oss.endpoint) for source in dashscope.fetched_images)  # I2V got OSS links


def test_an_upload_failure_fails_loudly_and_names_oss_and_the_bucket(make_client, dashscope, oss):
    client = make_client(**dashscope.settings(), **{**oss.settings(), "oss_access_key_secret": "wrong-secret"})
    response = client.post("/api/v1/storyboard/create", json=create_body())
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["stage"] == "keyframes" and error["backend"] == "oss"
    assert f"bucket '{oss.bucket}'" in error["message"] and "SignatureDoesNotMatch" in error["message"]
    assert all(shot["image_url"] is None for shot in story(client)["shots"])  # nothing served locally instead


def test_a_shot_rejected_by_moderation_fails_alone(make_client, dashscope):
    dashscope.soften_keeps_marker = True
    script = SHORT_SCRIPT.replace("纸船", f"{MARKER}纸船")
    client = make_client(**dashscope.settings())
    response = client.post("/api/v1/storyboard/create", json=create_body(script_content=script))
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["shot_id"] == "shot_03" and error["stage"] == "keyframes" and error["backend"] == "dashscope"
    assert "also after the LLM softened it once" in error["message"]
    shots = story(client)["shots"]
    assert [shot["image_url"] is not None for shot in shots] == [True, True, False, True]


def test_image_tasks_in_flight_never_exceed_the_endpoint_limit(make_client, dashscope):
    client = make_client(**dashscope.settings(), dashscope_image_concurrency=1, shot_concurrency=4)
    assert client.post("/api/v1/storyboard/create", json=create_body(script_content=SHORT_SCRIPT)).status_code == 200
    assert dashscope.max_active_tasks == 1


class ListHandler(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_logs_of_a_full_run_never_contain_the_api_key(make_client, dashscope, oss):
    """Loguru and every stdlib logger (httpx, httpcore, websockets, uvicorn) at DEBUG."""
    lines: list[str] = []
    sink = logger.add(lines.append, level="DEBUG", format="{message} {extra}")
    root = logging.getLogger()
    handler, level = ListHandler(lines), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        dashscope.canned["chat"].append(Canned(429, error_body("Throttling", "slow down"), {"Retry-After": "0"}))
        dashscope.canned["image"].append(Canned(429, error_body("Throttling", "try again"), {"Retry-After": "0"}))
        dashscope.tts_failures.append({"error_code": "Throttling.RateQuota", "error_message": "rate limit"})
        client = make_client(**dashscope.settings(), **oss.settings())
        run_seed_requests(client, SHORT_SCRIPT)
        client.get("/ready")
        failing = make_client(root=client.app.state.settings.output_dir.parent / "second", **{**dashscope.settings(), "dashscope_api_key": KEY + "-revoked"})
        assert failing.post("/api/v1/storyboard/create", json=create_body(script_content=SHORT_SCRIPT)).status_code == 503
    finally:
        logger.remove(sink)
        root.removeHandler(handler)
        root.setLevel(level)
    text = "".join(lines)
    assert "try 2/3" in text  # the retries were logged, so the log was really captured
    assert f"HTTP Request: POST {dashscope.url}" in text  # and so were the stdlib loggers (httpx here)
    assert KEY not in text and oss.secret not in text
    assert KEY not in repr(client.app.state.settings) and oss.secret not in repr(client.app.state.settings)
    assert KEY.encode() not in client.app.state.settings.database_path.read_bytes()
