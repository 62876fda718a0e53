"""A failing or lying backend: the error names stage, backend and shot; other shots' work is kept."""

from __future__ import annotations

import asyncio
import wave

from app_api import build_providers
from story2video.media.ffmpeg import locate_ffmpeg, run_ffmpeg
from story2video.providers.base import BackendStatus, ClipFile, SpeechResult
from tests.conftest import create_body, small_settings

RENDER = {"operation_id": "op-render", "story_id": "story-001", "user_id": "u-001"}


class SpeechFailingOn:
    """Real speech, except for one narration, where the backend blows up."""

    def __init__(self, inner, bad_text: str):
        self.inner, self.bad_text = inner, bad_text
        self.backend, self.model = inner.backend, inner.model

    async def synthesize(self, request, dest, ctx):
        if request.text == self.bad_text:
            raise RuntimeError("speaker exploded")
        return await self.inner.synthesize(request, dest, ctx)

    async def status(self):
        return await self.inner.status()


class PainterWritingGarbage:
    backend, model = "preview", "garbage"

    async def generate(self, request, dest, ctx):
        dest.write_bytes(b"this is not a PNG")

    async def status(self):
        return BackendStatus("keyframes", self.backend, self.model, ready=True)


class PainterWithBrokenStatus(PainterWritingGarbage):
    async def status(self):
        raise ConnectionError("host went away")


def test_failing_shot_is_named_and_other_shots_are_kept(make_client, tmp_path):
    plain = make_client(root=tmp_path / "plain")
    shots = plain.post("/api/v1/storyboard/create", json=create_body()).json()["shots"]
    providers = build_providers(small_settings(tmp_path))
    providers.speech = SpeechFailingOn(providers.speech, shots[2]["narration"])
    client = make_client(providers=providers)
    assert client.post("/api/v1/storyboard/create", json=create_body()).status_code == 200

    response = client.post("/api/v1/video/render", json=RENDER)
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["stage"] == "narration" and error["shot_id"] == "shot_03" and error["backend"] == "preview"
    assert "speaker exploded" in error["message"]
    assert response.json()["operation"]["status"] == "Failed"

    operation = client.get("/api/v1/operations/op-render").json()
    assert operation["shots"]["shot_03"]["state"] == "failed"
    assert all(s["state"] == "done" for sid, s in operation["shots"].items() if sid != "shot_03")
    db = client.app.state.engine.deps.stories.db
    kinds = [row["kind"] for row in db.fetch_all("SELECT kind FROM artifacts")]
    assert kinds.count("segment") == len(shots) - 1 and "video" not in kinds


def test_garbage_from_a_backend_never_becomes_an_artifact(make_client, tmp_path):
    providers = build_providers(small_settings(tmp_path))
    providers.image = PainterWritingGarbage()
    client = make_client(providers=providers)
    response = client.post("/api/v1/storyboard/create", json=create_body())
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "invalid_artifact" and error["stage"] == "keyframes"
    assert error["shot_id"].startswith("shot_")
    artifacts = client.app.state.engine.deps.store.root
    assert [p for p in artifacts.rglob("*") if p.is_file()] == []
    story = client.get("/api/v1/stories/story-001", params={"user_id": "u-001"}).json()
    assert story["shots"] and all(shot["image_url"] is None for shot in story["shots"])


def test_ready_reports_a_backend_whose_status_check_fails(make_client, tmp_path):
    providers = build_providers(small_settings(tmp_path))
    client = make_client(providers=providers)
    providers.image = PainterWithBrokenStatus()  # swapped after start-up, as if it broke later
    client.app.state.engine.deps.providers = providers
    ready = client.get("/ready")
    assert ready.status_code == 503
    keyframes = next(b for b in ready.json()["backends"] if b["stage"] == "keyframes")
    assert keyframes["ready"] is False
    assert keyframes["detail"] == "status check failed: ConnectionError: host went away"


class HangingSpeech:
    backend, model = "preview", "hangs"

    async def synthesize(self, request, dest, ctx):
        await asyncio.Event().wait()  # never answers

    async def status(self):
        return BackendStatus("narration", self.backend, self.model, ready=True)


class SilentSpeech(HangingSpeech):
    async def synthesize(self, request, dest, ctx):
        with wave.open(str(dest), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(22050)
        return SpeechResult(duration=0.0, sample_rate=22050, voice="none")


class AudioOnlyClips:
    backend, model = "fake-i2v", "audio-only"

    async def animate(self, request, dest, ctx):
        args = ["-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", "-f", "mp4", str(dest)]
        await run_ffmpeg(locate_ffmpeg(), args)
        return ClipFile(path=dest, duration=1.0)

    async def status(self):
        return BackendStatus("clips", self.backend, self.model, ready=True)


def _render_with(make_client, tmp_path, stage: str, provider, **settings):
    providers = build_providers(small_settings(tmp_path))
    setattr(providers, stage, provider)
    client = make_client(providers=providers, **settings)
    assert client.post("/api/v1/storyboard/create", json=create_body()).status_code == 200
    return client, client.post("/api/v1/video/render", json=RENDER)


def test_a_hanging_backend_times_out_naming_it(make_client, tmp_path):
    client, response = _render_with(make_client, tmp_path, "speech", HangingSpeech(), narration_timeout_s=0.5)
    assert response.status_code == 504
    error = response.json()["error"]
    assert error["code"] == "backend_timeout" and error["stage"] == "narration" and error["shot_id"].startswith("shot_")
    assert "0.5 s" in error["message"] and "NARRATION_TIMEOUT_S" in error["message"]


def test_empty_audio_is_caught_before_ffmpeg(make_client, tmp_path):
    _, response = _render_with(make_client, tmp_path, "speech", SilentSpeech())
    error = response.json()["error"]
    assert response.status_code == 502 and error["code"] == "invalid_artifact" and "empty" in error["message"]


def test_a_clip_without_video_is_caught_before_ffmpeg(make_client, tmp_path):
    client, response = _render_with(make_client, tmp_path, "video", AudioOnlyClips())
    error = response.json()["error"]
    assert response.status_code == 502 and error["code"] == "invalid_artifact" and error["stage"] == "clips"
    assert "no video stream" in error["message"]
    kinds = [row["kind"] for row in client.app.state.engine.deps.stories.db.fetch_all("SELECT kind FROM artifacts")]
    assert "clip" not in kinds and "segment" not in kinds


class HangingPainter:
    backend, model = "preview", "hangs"

    async def generate(self, request, dest, ctx):
        await asyncio.Event().wait()  # never answers

    async def status(self):
        return BackendStatus("keyframes", self.backend, self.model, ready=True)


def test_a_hanging_image_backend_times_out_naming_it(make_client, tmp_path):
    providers = build_providers(small_settings(tmp_path))
    providers.image = HangingPainter()
    client = make_client(providers=providers, keyframe_timeout_s=0.5)
    response = client.post("/api/v1/storyboard/create", json=create_body())
    assert response.status_code == 504
    error = response.json()["error"]
    assert error["code"] == "backend_timeout" and error["stage"] == "keyframes" and error["shot_id"].startswith("shot_")
    assert "KEYFRAME_TIMEOUT_S" in error["message"]
