"""A story's cast through the API: the storyboard finds it, people edit it, and an edit redraws exactly
the shots of that character."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app_api import build_providers
from tests.conftest import create_body, small_settings

ENGLISH_SCRIPT = (
    "The rain fell all night over the quiet harbour town. Tom opened the door of the boathouse and looked out. "
    '"Is anybody there?" Tom asked. Far away, Anna stood alone at the window of the lighthouse. '
    '"I am the keeper\'s daughter," she said. The storm moved out to sea before dawn.'
)
CHINESE_SCRIPT = (
    "张明推开门，看见小红站在窗边。“你怎么来了？”张明问道。"
    "小红转过身，笑着说：“我来给你送伞。”她把伞递给他。“谢谢你，”他说，“外面雨真大。”"
)
USER = {"user_id": "u-001"}


class CountingPainter:
    """The preview painter, remembering the subject of every picture it is asked to draw."""

    def __init__(self, inner):
        self.inner, self.backend, self.model = inner, inner.backend, inner.model
        self.redraw_per_frame = getattr(inner, "redraw_per_frame", False)
        self.subjects: list[str] = []

    async def generate(self, request, dest, ctx):
        self.subjects.append(request.subject)
        return await self.inner.generate(request, dest, ctx)

    async def status(self):
        return await self.inner.status()


def _cast(client, story_id: str = "story-001") -> dict:
    response = client.get(f"/api/v1/stories/{story_id}/cast", params=USER)
    assert response.status_code == 200, response.text
    return {character["name"]: character for character in response.json()}


def _story(client, story_id: str = "story-001") -> dict:
    response = client.get(f"/api/v1/stories/{story_id}", params=USER)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("script", "names", "speaker_words"),
    [
        (ENGLISH_SCRIPT, {"Tom", "Anna"}, {"Tom": "Is anybody there?", "Anna": "I am the keeper's daughter,"}),
        (CHINESE_SCRIPT, {"张明", "小红"}, {"张明": "你怎么来了？", "小红": "我来给你送伞。"}),
    ],
)
def test_the_storyboard_returns_the_cast_and_lines_with_speakers(client, script, names, speaker_words):
    created = client.post("/api/v1/storyboard/create", json=create_body(script_content=script))
    assert created.status_code == 200, created.text
    cast = _cast(client)
    assert set(cast) == names
    for character in cast.values():
        assert character["appearance"] and character["gender"] in ("female", "male") and character["shot_ids"]
    ids = {name: character["character_id"] for name, character in cast.items()}
    shots = _story(client)["shots"]
    spoken = {(line["speaker"], line["text"]) for shot in shots for line in shot["lines"]}
    for name, words in speaker_words.items():
        assert (ids[name], words) in spoken
    for shot in shots:
        assert set(shot["characters"]) <= set(ids.values())
        assert {line["speaker"] for line in shot["lines"]} <= {*ids.values(), "narrator"}
    assert _story(client)["cast"] == list(_cast(client).values())


def test_editing_one_character_redraws_only_its_shots(make_client, tmp_path):
    providers = build_providers(small_settings(tmp_path))
    painter = providers.image = CountingPainter(providers.image)
    client = make_client(providers=providers)
    assert client.post("/api/v1/storyboard/create", json=create_body(script_content=ENGLISH_SCRIPT, shot_count=4)).status_code == 200
    assert client.post("/api/v1/video/render", json={"operation_id": "op-r1", "story_id": "story-001", **USER}).status_code == 200
    tom = _cast(client)["Tom"]
    shots = {shot["id"]: shot for shot in _story(client)["shots"]}
    toms = set(tom["shot_ids"])
    assert toms and toms != set(shots), "the script must have shots with and without Tom"

    edited = client.patch(
        f"/api/v1/stories/story-001/cast/{tom['character_id']}",
        json={**USER, "appearance": "a tall old fisherman with a white beard, yellow oilskin coat"},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["appearance"].startswith("a tall old fisherman")
    painter.subjects.clear()
    again = client.post("/api/v1/video/render", json={"operation_id": "op-r2", "story_id": "story-001", **USER})
    assert again.status_code == 200, again.text

    redrawn = {shot_id for shot_id, shot in shots.items() if shot["subject"] in painter.subjects}
    assert redrawn == toms
    after = {shot["id"]: shot for shot in _story(client)["shots"]}
    for shot_id in shots:
        changed = after[shot_id]["image_url"] != shots[shot_id]["image_url"]
        assert changed == (shot_id in toms), shot_id


def test_a_voice_edit_keeps_every_picture(client):
    client.post("/api/v1/storyboard/create", json=create_body(script_content=ENGLISH_SCRIPT))
    before = _story(client)
    anna = _cast(client)["Anna"]
    edited = client.patch(f"/api/v1/stories/story-001/cast/{anna['character_id']}", json={**USER, "voice": "en+f4"})
    assert edited.status_code == 200 and edited.json()["voice"] == "en+f4"
    assert [shot["image_url"] for shot in _story(client)["shots"]] == [shot["image_url"] for shot in before["shots"]]


def test_an_uploaded_reference_is_the_characters_picture(client):
    client.post("/api/v1/storyboard/create", json=create_body(script_content=ENGLISH_SCRIPT))
    picture = io.BytesIO()
    Image.new("RGB", (64, 80), (200, 40, 40)).save(picture, "PNG")
    upload = client.post("/api/v1/uploads", params=USER, content=picture.getvalue(), headers={"Content-Type": "image/png"})
    assert upload.status_code == 201, upload.text
    tom = _cast(client)["Tom"]
    edited = client.patch(
        f"/api/v1/stories/story-001/cast/{tom['character_id']}", json={**USER, "reference_upload_id": upload.json()["upload_id"]}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["reference_source"] == "upload" and edited.json()["reference_url"]
    assert client.get(edited.json()["reference_url"]).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "status", "param"),
    [
        ("/api/v1/stories/story-001/cast/nobody", {**USER, "name": "X"}, 404, None),
        ("/api/v1/stories/missing/cast/tom", {**USER, "name": "X"}, 404, None),
        ("/api/v1/stories/story-001/cast/tom", {**USER, "appearance": ""}, 400, "appearance"),
        ("/api/v1/stories/story-001/cast/tom", {**USER, "gender": "robot"}, 400, "gender"),
        ("/api/v1/stories/story-001/cast/tom", {**USER, "reference_upload_id": "nope"}, 400, "reference_upload_id"),
        ("/api/v1/stories/story-001/cast/tom", {**USER, "reference_upload_id": "nope", "redraw_reference": True}, 400, "redraw_reference"),
    ],
)
def test_bad_cast_edits_say_what_is_wrong(client, path, body, status, param):
    client.post("/api/v1/storyboard/create", json=create_body(script_content=ENGLISH_SCRIPT))
    response = client.patch(path, json=body)
    assert response.status_code == status, response.text
    if param:
        assert response.json()["error"]["param"] == param


def test_redraw_reference_draws_a_new_portrait_and_the_characters_shots(client):
    client.post("/api/v1/storyboard/create", json=create_body(script_content=ENGLISH_SCRIPT, shot_count=4))
    tom = _cast(client)["Tom"]
    assert tom["reference_source"] == "drawn" and tom["reference_url"]
    edited = client.patch(f"/api/v1/stories/story-001/cast/{tom['character_id']}", json={**USER, "redraw_reference": True})
    assert edited.status_code == 200 and edited.json()["reference_url"] is None
    assert client.post("/api/v1/video/render", json={"operation_id": "op-r1", "story_id": "story-001", **USER}).status_code == 200
    redrawn = _cast(client)["Tom"]
    assert redrawn["reference_source"] == "drawn" and redrawn["reference_url"] not in (None, tom["reference_url"])
