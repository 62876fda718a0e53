"""Keyframes through the ASGI app (preview backends, real FFmpeg): a render at another aspect gets a
title card drawn for it, and a regenerate with a new detail changes the picture."""

from __future__ import annotations

import asyncio
import io

from PIL import Image

from story2video.media.motion import window
from story2video.pipeline.keyframes import CardFrame, keyframe_for_frame
from story2video.providers.base import ImageRequest, StageContext, StillMotion
from story2video.providers.preview.clip import MOVE_ZOOM, camera_move
from story2video.providers.preview.keyframe import TitleCardPainter
from story2video.storage.records import ArtifactRecord
from tests import mediacheck
from tests.conftest import create_body

SCRIPT = "清晨，少女推开木窗，望见远山的薄雾。她背起画板走向河边。河面上漂着一只纸船。夜里，她终于听见了海浪的声音。"


def _story(client) -> dict:
    response = client.get("/api/v1/stories/story-001", params={"user_id": "u-001"})
    assert response.status_code == 200, response.text
    return response.json()


def _image(client, url: str) -> Image.Image:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return Image.open(io.BytesIO(response.content)).convert("RGB")


def _card(shot: dict, size: tuple[int, int], subtitled: bool, tmp_path) -> Image.Image:
    request = ImageRequest(
        prompt=shot["detail"], subject=shot["subject"], narration=shot["narration"], style=shot["style"],
        width=size[0], height=size[1], seed=shot["seed"], shot_index=shot["sequence"] - 1, subtitled=subtitled,
    )
    dest = tmp_path / f"card-{shot['id']}-{size[0]}x{size[1]}.png"
    asyncio.run(TitleCardPainter().generate(request, dest, StageContext()))
    return Image.open(dest).convert("RGB")


def _first_frame_view(card: Image.Image, shot: dict) -> Image.Image:
    """What the first frame of the shot's move shows of ``card``."""
    box = window(StillMotion(camera_move(shot["camera"], shot["seed"]), MOVE_ZOOM), 0.0)
    width, height = card.size
    crop = (box.left * width, box.top * height, box.right * width, box.bottom * height)
    return card.resize(card.size, Image.Resampling.BILINEAR, box=crop)


def _cover_crop(card: Image.Image, size: tuple[int, int]) -> Image.Image:
    scale = max(size[0] / card.width, size[1] / card.height)
    scaled = card.resize((round(card.width * scale), round(card.height * scale)), Image.Resampling.BILINEAR)
    left, top = (scaled.width - size[0]) // 2, (scaled.height - size[1]) // 2
    return scaled.crop((left, top, left + size[0], top + size[1]))


def test_a_render_at_another_aspect_shows_a_card_drawn_for_it_not_a_crop(client, tmp_path):
    created = client.post("/api/v1/storyboard/create", json=create_body(script_content=SCRIPT, aspect_ratio="16:9"))
    assert created.status_code == 200, created.text
    render = {"operation_id": "op-square", "story_id": "story-001", "user_id": "u-001", "aspect_ratio": "1:1"}
    rendered = client.post("/api/v1/video/render", json=render)
    assert rendered.status_code == 200, rendered.text
    story = _story(client)
    for shot in story["shots"]:
        stored = _image(client, shot["image_url"])
        assert stored.size == (320, 180)  # the story keeps its own keyframes
        frame = mediacheck.frame_at(client.get(shot["video_url"]).content, 0.0).convert("RGB")
        assert frame.size == (180, 180)
        drawn = mediacheck.mean_abs_diff(
            mediacheck.thumbnail(frame, (90, 90)),
            mediacheck.thumbnail(_first_frame_view(_card(shot, (180, 180), True, tmp_path), shot), (90, 90)),
        )
        cropped = mediacheck.mean_abs_diff(
            mediacheck.thumbnail(frame, (90, 90)),
            mediacheck.thumbnail(_first_frame_view(_cover_crop(stored, (180, 180)), shot), (90, 90)),
        )
        assert drawn < 4 and drawn < cropped / 2, (shot["id"], drawn, cropped)


def test_a_render_without_subtitles_shows_the_narration_on_the_card(client, tmp_path):
    created = client.post("/api/v1/storyboard/create", json=create_body(script_content=SCRIPT))
    assert created.status_code == 200, created.text
    render = {"operation_id": "op-plain", "story_id": "story-001", "user_id": "u-001", "subtitles": False}
    assert client.post("/api/v1/video/render", json=render).status_code == 200
    shot = _story(client)["shots"][0]
    frame = mediacheck.thumbnail(mediacheck.frame_at(client.get(shot["video_url"]).content, 0.0), (160, 90))
    narrated = mediacheck.thumbnail(_first_frame_view(_card(shot, (320, 180), False, tmp_path), shot), (160, 90))
    titled = mediacheck.thumbnail(_first_frame_view(_card(shot, (320, 180), True, tmp_path), shot), (160, 90))
    assert mediacheck.mean_abs_diff(frame, narrated) < mediacheck.mean_abs_diff(frame, titled) / 2


def test_regenerate_with_a_new_detail_changes_the_keyframe_visibly(client):
    assert client.post("/api/v1/storyboard/create", json=create_body(script_content=SCRIPT)).status_code == 200
    before = _image(client, _story(client)["shots"][0]["image_url"])
    regenerate = {
        "operation_id": "op-002", "story_id": "story-001", "shot_id": "shot_01", "user_id": "u-001",
        "detail": "新的细节描述：晨雾中的木窗",
    }
    assert client.post("/api/v1/shot/regenerate", json=regenerate).status_code == 200
    after = _image(client, _story(client)["shots"][0]["image_url"])
    assert mediacheck.mean_abs_diff(mediacheck.thumbnail(before), mediacheck.thumbnail(after)) > 5


def test_a_picture_that_is_not_a_title_card_is_used_as_it_is(client):
    assert client.post("/api/v1/storyboard/create", json=create_body(script_content=SCRIPT)).status_code == 200
    deps = client.app.state.engine.deps
    story = deps.stories.get_story("u-001", "story-001")
    shot = deps.stories.list_shots("u-001", "story-001")[0]
    card = deps.store.get(shot.image_key)
    upload = ArtifactRecord(**{**card.__dict__, "backend": "upload"})
    kept = asyncio.run(keyframe_for_frame(deps, story, shot, upload, CardFrame(180, 180, True), StageContext()))
    assert kept is upload
    redrawn = asyncio.run(keyframe_for_frame(deps, story, shot, card, CardFrame(180, 180, False), StageContext()))
    assert redrawn.key != card.key and Image.open(deps.store.path_of(redrawn)).size == (180, 180)
    same = asyncio.run(keyframe_for_frame(deps, story, shot, card, CardFrame(320, 180, True), StageContext()))
    assert same.key == card.key
