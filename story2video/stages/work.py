"""Each stage on its own, as an operation (seed 003's task): storyboard, keyframes for given scenes,
clips for given keyframes, narration for given lines. The same pipeline steps as a whole story's,
with the same caches: a scene drawn here with the same inputs as a story's shot is the same file.

Every task keeps what it made as a story of its own (story_id = task_id), so its files are a user's
like any story's: listed, readable, kept by retention while the story lives.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from pathlib import Path

from PIL import Image

from story2video.errors import InvalidRequest
from story2video.jobs.operations import OperationService
from story2video.jobs.states import OperationKind, ShotState
from story2video.jobs.tracker import OperationTracker
from story2video.media.encoding import output_size
from story2video.pipeline.cache import derive_seed
from story2video.pipeline.deps import PipelineDeps, artifact_url
from story2video.pipeline.keyframes import CardFrame, keyframe_for_frame, paint_keyframes
from story2video.pipeline.narration import ensure_narration
from story2video.pipeline.render import RenderSpec
from story2video.pipeline.shots import run_per_shot
from story2video.pipeline.stageclips import clip_file
from story2video.pipeline.storyboard import cast_from_drafts, shots_from_drafts, write_storyboard
from story2video.providers.base import StoryboardRequest
from story2video.stages.schemas import ClipsRequest, FramesRequest, NarrationRequest, StoryboardStageRequest
from story2video.storage.ownership import users_picture_shot
from story2video.storage.records import ShotRecord, StoryRecord

STAGE_KINDS = {
    OperationKind.STAGE_STORYBOARD.value: "storyboard",
    OperationKind.STAGE_FRAMES.value: "frames",
    OperationKind.STAGE_CLIPS.value: "clips",
    OperationKind.STAGE_NARRATION.value: "narration",
}
STAGE_PLANS = {
    OperationKind.STAGE_STORYBOARD.value: (("storyboard", 1.0),),
    OperationKind.STAGE_FRAMES.value: (("keyframes", 1.0),),
    OperationKind.STAGE_CLIPS.value: (("clips", 1.0),),
    OperationKind.STAGE_NARRATION.value: (("narration", 1.0),),
}
_ARTIFACT_LINK = re.compile(r"/api/v1/artifacts/([0-9a-f]{64})\.png(?:[?#]|$)")
_ASPECTS = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0}
# A shot has every field filled; where a stage's request has no word for one, these stand in.
STILL_CAMERA = "static shot"
PLAIN_TONE = "neutral"


class StageWork:
    def __init__(self, deps: PipelineDeps, operations: OperationService):
        self.deps = deps
        self.operations = operations

    # ------------------------------------------------------------------ submitting (checked first)

    def storyboard(self, user_id: str, request: StoryboardStageRequest):
        settings = self.deps.settings
        if len(request.story) > settings.max_script_chars:
            raise InvalidRequest(f"story has {len(request.story)} characters; the limit is {settings.max_script_chars}", param="story")
        if request.scenes is not None and request.scenes > settings.max_shots:
            raise InvalidRequest(f"scenes may be at most {settings.max_shots}", param="scenes")
        return self._submit(OperationKind.STAGE_STORYBOARD, user_id, request.model_dump(mode="json"), {"seed": secrets.randbelow(2**31)})

    def frames(self, user_id: str, request: FramesRequest):
        _unique_scenes([scene.scene_id for scene in request.storyboard], "storyboard", self.deps.settings.max_shots)
        if request.image_style.resolution is not None:
            _aspect_and_side(request.image_style.resolution, "image_style.resolution")
        seed = request.image_style.seed if request.image_style.seed is not None else secrets.randbelow(2**31)
        return self._submit(OperationKind.STAGE_FRAMES, user_id, request.model_dump(mode="json"), {"seed": seed})

    def clips(self, user_id: str, request: ClipsRequest):
        _unique_scenes([frame.scene_id for frame in request.frames], "frames", self.deps.settings.max_shots)
        for index, frame in enumerate(request.frames):
            self._picture(user_id, frame.frame, f"frames.{index}.frame")
        return self._submit(OperationKind.STAGE_CLIPS, user_id, request.model_dump(mode="json"))

    def narration(self, user_id: str, request: NarrationRequest):
        _unique_scenes([line.scene_id for line in request.lines], "lines", self.deps.settings.max_shots)
        for index, line in enumerate(request.lines):
            if not any(char.isalnum() for char in line.text):
                raise InvalidRequest("text has no words to speak (only spaces, punctuation or emoji)", param=f"lines.{index}.text")
        return self._submit(OperationKind.STAGE_NARRATION, user_id, request.model_dump(mode="json"))

    def _submit(self, kind: OperationKind, user_id: str, body: dict, chosen: dict | None = None):
        task_id = f"task_{STAGE_KINDS[kind.value]}_{secrets.token_hex(6)}"
        return self.operations.submit(
            operation_id=task_id, kind=kind.value, user_id=user_id, story_id=task_id, body=body, stored_body={**body, **(chosen or {})}
        )

    # ------------------------------------------------------------------ running

    async def execute(self, tracker: OperationTracker) -> dict:
        record = tracker.record
        body = dict(record.request)
        kind = record.kind
        if kind == OperationKind.STAGE_STORYBOARD.value:
            seed = body.pop("seed")
            return await self._storyboard(tracker, StoryboardStageRequest.model_validate(body), seed)
        if kind == OperationKind.STAGE_FRAMES.value:
            seed = body.pop("seed")
            return await self._frames(tracker, FramesRequest.model_validate(body), seed)
        if kind == OperationKind.STAGE_CLIPS.value:
            return await self._clips(tracker, ClipsRequest.model_validate(body))
        if kind == OperationKind.STAGE_NARRATION.value:
            return await self._narration(tracker, NarrationRequest.model_validate(body))
        raise InvalidRequest(f"unknown stage kind '{kind}'")

    async def _storyboard(self, tracker: OperationTracker, request: StoryboardStageRequest, seed: int) -> dict:
        settings = self.deps.settings
        story = self._story(tracker, script=request.story, style=request.style)
        storyboard_request = StoryboardRequest(
            script=request.story, style=request.style, min_shots=settings.default_min_shots, max_shots=settings.default_max_shots,
            shot_count=request.scenes,
        )  # fmt: skip
        try:
            storyboard = await write_storyboard(self.deps, tracker, storyboard_request)
        except InvalidRequest as error:
            if error.param == "shot_count":  # this request names it scenes
                error.param = "scenes"
                error.message = error.message.replace("shot_count", "scenes")
            raise
        shots = shots_from_drafts(story, storyboard, seed)
        await asyncio.to_thread(self.deps.stories.replace_story, story, shots, cast_from_drafts(story, storyboard.cast))
        scenes = [
            {"scene_id": f"s{shot.sequence}", "title": shot.subject, "prompt": shot.detail, "narration": shot.narration, "bgm": shot.tone}
            for shot in shots
        ]
        return {"storyboard": scenes}

    async def _frames(self, tracker: OperationTracker, request: FramesRequest, seed: int) -> dict:
        aspect, side = ("16:9", self.deps.settings.default_resolution)
        if request.image_style.resolution is not None:
            aspect, side = _aspect_and_side(request.image_style.resolution, "image_style.resolution")
        story = self._story(tracker, script="\n".join(scene.narration for scene in request.storyboard), aspect=aspect, resolution=side)
        shots = [
            self._shot(story, index, scene.scene_id, subject=scene.title or scene.prompt[:60], detail=scene.prompt,
                       narration=scene.narration or scene.title or scene.prompt[:60], tone=scene.bgm or PLAIN_TONE, seed=derive_seed(seed, scene.scene_id))  # fmt: skip
            for index, scene in enumerate(request.storyboard, start=1)
        ]
        await asyncio.to_thread(self.deps.stories.replace_story, story, shots, [])
        await paint_keyframes(self.deps, tracker, story, shots)
        return {"frames": [{"scene_id": shot.shot_id, "frame": artifact_url(self.deps.store.get(shot.image_key))} for shot in shots]}

    async def _clips(self, tracker: OperationTracker, request: ClipsRequest) -> dict:
        settings = self.deps.settings
        user_id = tracker.record.user_id
        pictures = [self._picture(user_id, frame.frame, f"frames.{index}.frame") for index, frame in enumerate(request.frames)]
        side = int(request.video.resolution[:-1]) if request.video.resolution else settings.default_resolution
        aspect = _nearest_aspect(*await asyncio.to_thread(_size_of, self.deps.store.path_of(pictures[0][0])))
        story = self._story(tracker, script="", aspect=aspect, resolution=side)
        width, height = output_size(aspect, side)
        spec = self._spec(width, height, request.video.fps or settings.default_fps)
        shots = [
            self._shot(story, index, frame.scene_id, subject=frame.scene_id, detail=detail or frame.scene_id, camera=camera or STILL_CAMERA,
                       narration=frame.scene_id, image_key=picture.key, seed=derive_seed(0, picture.key))  # fmt: skip
            for index, (frame, (picture, (detail, camera))) in enumerate(zip(request.frames, pictures), start=1)
        ]
        await asyncio.to_thread(self.deps.stories.replace_story, story, shots, [])
        tracker.enter_stage("clips", [shot.shot_id for shot in shots])
        durations = {frame.scene_id: frame.duration for frame in request.frames}

        async def one(shot: ShotRecord) -> None:
            tracker.set_shot(shot.shot_id, ShotState.WORKING, step="clip")
            ctx = tracker.context(shot.shot_id)
            stored = self.deps.store.get(shot.image_key)
            keyframe = await keyframe_for_frame(self.deps, story, shot, stored, CardFrame(width, height, False), ctx)
            clip = await clip_file(self.deps, shot, keyframe, durations[shot.shot_id], spec, ctx)
            shot.video_key = clip.key
            await asyncio.to_thread(self.deps.stories.save_shot, shot)
            tracker.set_shot(shot.shot_id, ShotState.DONE, video_url=artifact_url(clip))

        await run_per_shot(tracker, shots, one, settings.shot_concurrency)
        return {"clips": [{"scene_id": shot.shot_id, "clip": artifact_url(self.deps.store.get(shot.video_key))} for shot in shots]}

    async def _narration(self, tracker: OperationTracker, request: NarrationRequest) -> dict:
        settings = self.deps.settings
        story = self._story(tracker, script="\n".join(line.text for line in request.lines))
        shots = [
            self._shot(story, index, line.scene_id, subject=line.text[:60], detail=line.text, narration=line.text, seed=0)
            for index, line in enumerate(request.lines, start=1)
        ]
        await asyncio.to_thread(self.deps.stories.replace_story, story, shots, [])
        width, height = output_size(story.aspect_ratio, story.resolution)
        spec = self._spec(width, height, settings.default_fps, voice=request.voice if request.voice is not None else settings.default_voice, speed=request.speed)
        tracker.enter_stage("narration", [shot.shot_id for shot in shots])

        async def one(shot: ShotRecord) -> None:
            tracker.set_shot(shot.shot_id, ShotState.WORKING, step="narration")
            audio = await ensure_narration(self.deps, shot, {}, spec.voice, spec.speed, tracker.context(shot.shot_id))  # no cast: the narrator
            shot.audio_key = audio.key
            await asyncio.to_thread(self.deps.stories.save_shot, shot)
            tracker.set_shot(shot.shot_id, ShotState.DONE)

        await run_per_shot(tracker, shots, one, settings.shot_concurrency)
        return {"audios": [{"scene_id": shot.shot_id, "audio": artifact_url(self.deps.store.get(shot.audio_key))} for shot in shots]}

    # ------------------------------------------------------------------ pieces

    def _picture(self, user_id: str, link: str, param: str):
        """(the picture's record, (detail, camera) of the shot it was drawn for) for a link this service gave out."""
        found = _ARTIFACT_LINK.search(link)
        if found is None:
            raise InvalidRequest(
                f"{param}: '{link[:200]}' is not a keyframe link of this service (take it from POST /frames, a story's image_url or an upload's url)",
                param=param,
            )
        record = self.deps.store.get(found.group(1))
        shot = users_picture_shot(self.deps.stories.db, user_id, found.group(1)) if record is not None else None
        if record is None or shot is None:
            raise InvalidRequest(f"{param}: no picture of user '{user_id}' is at '{link[:200]}'", param=param)
        return record, shot

    def _story(self, tracker: OperationTracker, *, script: str, style: str = "", aspect: str | None = None, resolution: int | None = None) -> StoryRecord:
        settings = self.deps.settings
        record = tracker.record
        return StoryRecord(
            user_id=record.user_id, story_id=record.story_id, display_name=f"{STAGE_KINDS[record.kind]} task {record.operation_id}",
            script=script, style=style, aspect_ratio=aspect or settings.default_aspect_ratio, resolution=resolution or settings.default_resolution,
        )  # fmt: skip

    @staticmethod
    def _shot(
        story: StoryRecord, sequence: int, scene_id: str, *, seed: int, subject: str, detail: str, narration: str,
        camera: str = STILL_CAMERA, tone: str = PLAIN_TONE, image_key: str | None = None,
    ) -> ShotRecord:  # fmt: skip
        return ShotRecord(
            user_id=story.user_id, story_id=story.story_id, shot_id=scene_id, sequence=sequence, subject=subject, detail=detail,
            camera=camera, narration=narration, tone=tone, style=story.style, seed=seed, image_key=image_key,
        )  # fmt: skip

    def _spec(self, width: int, height: int, fps: int, voice: str | None = None, speed: float = 1.0) -> RenderSpec:
        settings = self.deps.settings
        return RenderSpec(
            width=width, height=height, fps=fps, subtitles=False, crossfade=0.0, music=False,
            voice=voice if voice is not None else settings.default_voice, speed=speed, lead_in=0.0, tail=0.0,
        )  # fmt: skip


def _unique_scenes(scene_ids: list[str], param: str, limit: int) -> None:
    if len(scene_ids) > limit:
        raise InvalidRequest(f"{param} may have at most {limit} scenes (MAX_SHOTS)", param=param)
    seen: set[str] = set()
    for index, scene_id in enumerate(scene_ids):
        if scene_id in seen:
            raise InvalidRequest(f"scene_id '{scene_id}' appears twice", param=f"{param}.{index}.scene_id")
        seen.add(scene_id)


def _aspect_and_side(resolution: str, param: str) -> tuple[str, int]:
    width, height = (int(part) for part in resolution.split("x"))
    side = min(width, height)
    if not 144 <= side <= 2160:
        raise InvalidRequest(f"{param}: the short side must be 144 to 2160 pixels", param=param)
    return _nearest_aspect(width, height), side


def _size_of(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def _nearest_aspect(width: int, height: int) -> str:
    ratio = width / height
    return min(_ASPECTS, key=lambda name: abs(_ASPECTS[name] - ratio) / _ASPECTS[name])
