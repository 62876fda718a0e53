from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PIL import Image

from story2video.errors import BackendError, InvalidRequest
from story2video.providers.base import CAMERA_MOVES, ClipRequest, StageContext, StillMotion, VideoGenerator
from story2video.providers.preview.clip import KenBurnsClipMaker, camera_move


@pytest.mark.parametrize(
    "camera,move",
    [
        ("镜头缓缓拉远，展现全景", "pull_out"),
        ("镜头缓慢推近，聚焦人物", "push_in"),
        ("拉近到她的脸", "push_in"),
        ("固定镜头，画面保持静止", "static"),
        ("镜头平稳左移", "pan_left"),
        ("镜头向右平移", "pan_right"),
        ("镜头缓缓上摇", "tilt_up"),
        ("镜头从上往下摇", "tilt_down"),
        ("俯拍小镇", "tilt_down"),
        ("近景特写", "push_in"),
        ("Slow pull out to reveal the whole scene", "pull_out"),
        ("Zoom in slowly on the lamp", "push_in"),
        ("The camera zooms out", "pull_out"),
        ("Smooth pan left across the harbour", "pan_left"),
        ("Tracking right with the runner", "pan_right"),
        ("Tilt up to the sky", "tilt_up"),
        ("crane down to the street", "tilt_down"),
        ("Static shot", "static"),
        ("locked-off frame", "static"),
        ("close-up of her hands", "push_in"),
        ("固定镜头，人物向左走", "static"),  # the first direction mentioned wins
        ("先推近，再左移", "push_in"),
        ("镜头static", "static"),
    ],
)
def test_camera_text_maps_to_a_move(camera, move):
    assert camera_move(camera, seed=0) == move


def test_camera_without_a_direction_gets_a_seeded_move():
    moves = [camera_move("一个女孩站在门口", seed) for seed in range(12)]
    assert moves == [camera_move("一个女孩站在门口", seed) for seed in range(12)]
    assert set(moves) == set(CAMERA_MOVES) - {"static"}
    assert camera_move("", seed=-7) in CAMERA_MOVES


def clip_request(keyframe: Path, **overrides) -> ClipRequest:
    values = dict(
        keyframe=keyframe,
        prompt="江边的小面馆",
        camera="镜头缓慢推近",
        duration=3.5,
        width=320,
        height=180,
        fps=12,
        seed=1,
    )
    values.update(overrides)
    return ClipRequest(**values)


@pytest.fixture
def keyframe(tmp_path: Path) -> Path:
    path = tmp_path / "keyframe.png"
    Image.new("RGB", (320, 180), (40, 80, 120)).save(path)
    return path


def test_animate_returns_a_still_motion_and_writes_nothing(tmp_path, keyframe):
    maker = KenBurnsClipMaker()
    assert isinstance(maker, VideoGenerator)
    dest = tmp_path / "clip.mp4"
    clip = asyncio.run(maker.animate(clip_request(keyframe), dest, StageContext()))
    assert clip == StillMotion(move="push_in", zoom=1.12)
    assert not dest.exists()
    still = asyncio.run(maker.animate(clip_request(keyframe, camera="固定镜头"), dest, StageContext()))
    assert still.move == "static" and still.zoom == 1.0


def test_missing_keyframe_is_a_backend_error(tmp_path):
    with pytest.raises(BackendError) as error:
        asyncio.run(
            KenBurnsClipMaker().animate(clip_request(tmp_path / "missing.png"), tmp_path / "c.mp4", StageContext())
        )
    assert error.value.stage == "clips"


@pytest.mark.parametrize("duration", [0.0, -1.0, float("inf")])
def test_non_positive_duration_is_refused(tmp_path, keyframe, duration):
    with pytest.raises(InvalidRequest) as error:
        asyncio.run(
            KenBurnsClipMaker().animate(clip_request(keyframe, duration=duration), tmp_path / "c.mp4", StageContext())
        )
    assert error.value.param == "duration"


def test_status_is_ready():
    status = asyncio.run(KenBurnsClipMaker().status())
    assert status.ready and status.stage == "clips" and status.backend == "preview"
