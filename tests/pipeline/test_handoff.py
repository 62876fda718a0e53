"""A render split into the steps workers run (shot media, shot segment, join), each step handed the
previous one's result as JSON, makes the very video the whole render makes in one process."""

from __future__ import annotations

import asyncio
import json

import pytest

from story2video.errors import MediaError
from story2video.pipeline.handoff import cut_from_wire, cut_to_wire, media_from_wire, media_to_wire
from story2video.pipeline.progress import ShotState
from story2video.pipeline.render import join_story, shot_media, shot_segment
from story2video.protocol import RenderVideoRequest
from story2video.stagecontext import StageContext
from tests.conftest import create_body


class Recorded:
    """A ``Progress`` that keeps what it was told."""

    def __init__(self) -> None:
        self.stages: list[str] = []
        self.shots: dict[str, list[ShotState]] = {}

    def enter_stage(self, stage, shot_ids=()) -> None:
        self.stages.append(stage)

    def set_shot(self, shot_id, state, **data) -> None:
        self.shots.setdefault(shot_id, []).append(state)

    def context(self, shot_id=None, span=(0.0, 1.0)) -> StageContext:
        return StageContext()


def over_the_wire(value: dict) -> dict:
    return json.loads(json.dumps(value))


def test_a_render_in_separate_steps_makes_the_same_video_as_one_process(client) -> None:
    assert client.post("/api/v1/storyboard/create", json=create_body()).status_code == 200
    engine = client.app.state.engine
    deps = engine.deps
    story, shots, spec = engine._rendering(RenderVideoRequest(operation_id="op-split", story_id="story-001", user_id="u-001"))
    progress = Recorded()

    async def split() -> str:
        cuts = []
        for shot in shots:
            media = await shot_media(deps, progress, story, shot, spec)
            handed = media_from_wire(deps, over_the_wire(media_to_wire(media)))
            cut = await shot_segment(deps, progress, shot, handed, spec)
            cuts.append(cut_from_wire(deps, shot, over_the_wire(cut_to_wire(cut))))
        return (await join_story(deps, progress, cuts, spec)).video.key

    split_key = asyncio.run(split())
    assert set(progress.shots) == {shot.shot_id for shot in shots}

    whole = client.post("/api/v1/video/render", json={"operation_id": "op-whole", "story_id": "story-001", "user_id": "u-001"})
    assert whole.status_code == 200, whole.text
    assert whole.json()["video_url"].rsplit("/", 1)[-1].split(".")[0] == split_key


def test_a_step_whose_input_is_gone_from_the_shared_folder_says_so(client) -> None:
    assert client.post("/api/v1/storyboard/create", json=create_body()).status_code == 200
    engine = client.app.state.engine
    story, shots, spec = engine._rendering(RenderVideoRequest(operation_id="op-split", story_id="story-001", user_id="u-001"))
    media = asyncio.run(shot_media(engine.deps, Recorded(), story, shots[0], spec))
    wire = over_the_wire(media_to_wire(media))
    wire["narration"] = "0" * 64  # made on a host whose OUTPUT_DIR this one does not see
    with pytest.raises(MediaError, match="OUTPUT_DIR"):
        media_from_wire(engine.deps, wire)
