"""A failing or lying backend: the error names stage, backend and shot; other shots' work is kept."""

from __future__ import annotations

from app_api import build_providers
from story2video.providers.base import BackendStatus
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
