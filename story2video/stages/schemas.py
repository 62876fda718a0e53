"""Seed 003's request and response bodies, field for field (docs/api.md, "Stage endpoints")."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SceneId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Text = Annotated[str, StringConstraints(max_length=2000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


class StoryboardStageRequest(_Body):
    story: Annotated[str, StringConstraints(min_length=1)] = Field(description="The story or script; its length limit is MAX_SCRIPT_CHARS")
    style: Annotated[str, StringConstraints(max_length=100)] = ""
    scenes: int | None = Field(None, ge=1, description="Exact number of scenes; default: chosen from the story")


class StoryboardScene(BaseModel):
    scene_id: str
    title: str = Field(description="The shot's subject")
    prompt: str = Field(description="What the picture shows (the shot's detail)")
    narration: str
    bgm: str = Field(description="The shot's mood (its narration tone); music is one track per video, chosen at render")


class StoryboardStageResponse(BaseModel):
    task_id: str
    storyboard: list[StoryboardScene]


class FrameScene(_Body):
    scene_id: SceneId
    prompt: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    narration: Text = ""
    title: Annotated[str, StringConstraints(max_length=200)] = ""
    bgm: Annotated[str, StringConstraints(max_length=100)] = ""


class ImageStyle(_Body):
    resolution: Annotated[str, StringConstraints(pattern=r"^\d{2,4}x\d{2,4}$")] | None = Field(
        None, description="WIDTHxHEIGHT; keyframes take the nearest of 16:9, 9:16 and 1:1 with this short side"
    )
    num_steps: int | None = Field(None, ge=1, le=200, description="Checked, not used: each backend keeps its configured steps")
    cfg_scale: float | None = Field(None, ge=0, le=30, description="Checked, not used: each backend keeps its configured guidance")
    seed: int | None = Field(None, ge=0, le=2**31 - 1)


class FramesRequest(_Body):
    storyboard: list[FrameScene] = Field(min_length=1)
    image_style: ImageStyle = Field(default_factory=ImageStyle)


class FrameOut(BaseModel):
    scene_id: str
    frame: str = Field(description="The keyframe's link (signed when keys or accounts are on)")


class FramesResponse(BaseModel):
    task_id: str
    frames: list[FrameOut]


class ClipFrame(_Body):
    scene_id: SceneId
    frame: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="A keyframe link this service gave out (POST /frames, a story's image_url, an upload's url)"
    )
    duration: float = Field(3.0, ge=0.5, le=30)
    transition: Literal["none", "cut", "crossfade"] = Field(
        "none", description="How this clip meets the next when joined; a clip on its own has no neighbour, so it is checked only"
    )


class VideoOptions(_Body):
    fps: int | None = Field(None, ge=1, le=60)
    resolution: Annotated[str, StringConstraints(pattern=r"^\d{3,4}p$")] | None = Field(None, description="The short side, e.g. 720p")
    transition_duration: float = Field(0.0, ge=0, le=2, description="Checked only, as transition")


class ClipsRequest(_Body):
    frames: list[ClipFrame] = Field(min_length=1)
    video: VideoOptions = Field(default_factory=VideoOptions)


class ClipOut(BaseModel):
    scene_id: str
    clip: str


class ClipsResponse(BaseModel):
    task_id: str
    clips: list[ClipOut]


class NarrationLine(_Body):
    scene_id: SceneId
    text: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class NarrationRequest(_Body):
    lines: list[NarrationLine] = Field(min_length=1)
    voice: Annotated[str, StringConstraints(max_length=100)] | None = None
    speed: float = Field(1.0, ge=0.5, le=2.0)
    format: Literal["wav"] = "wav"


class AudioOut(BaseModel):
    scene_id: str
    audio: str


class NarrationResponse(BaseModel):
    task_id: str
    audios: list[AudioOut]


class TaskView(BaseModel):
    task_id: str
    status: Literal["pending", "running", "done", "error"]
    progress: float = Field(ge=0, le=1)
    result: dict | None = Field(None, description="Once done: the body the stage's POST answers (task_id aside)")
    error: str | None = None
