"""The engine the routes talk to: checks inputs, then runs each request as an operation."""

from __future__ import annotations

import asyncio
import json
import secrets

from story2video.errors import Conflict, InvalidRequest, NotFound, OperationCancelled, RemoteError, Story2VideoError, describe_exception
from story2video.jobs.operations import OperationService
from story2video.jobs.states import OperationKind, ShotState
from story2video.jobs.tracker import OperationTracker
from story2video.media.encoding import output_size
from story2video.pipeline.cache import derive_seed
from story2video.pipeline.deps import PipelineDeps, artifact_url, public_url
from story2video.pipeline.editors import jianying_draft, otio_export, shot_media_folder
from story2video.pipeline.files import FILE_KINDS, StoryFile, story_files
from story2video.pipeline.timeline import RenderTimeline, load_timeline
from story2video.pipeline.handoff import cut_from_wire, cut_to_wire, media_from_wire, media_to_wire
from story2video.pipeline.keyframes import ensure_keyframe, keyframe_from_upload, paint_keyframes
from story2video.pipeline.render import RenderOutcome, RenderSpec, join_story, record_shot_done, render_story, shot_media, shot_segment
from story2video.pipeline.script import SCENE_PROMPT_STAGES, SCRIPT_STAGES
from story2video.pipeline.storyboard import adopt_cast, cast_from_drafts, shots_from_drafts, write_storyboard
from story2video.presenters import shot_view, story_view
from story2video.protocol import CreateStoryboardRequest, RegenerateShotRequest, RenderVideoRequest, UpdateCharacterRequest
from story2video.providers.base import BackendStatus, CharacterDraft, StoryboardRequest
from story2video.scripting import ScriptService
from story2video.stages.work import STAGE_KINDS, STAGE_PLANS as STAGE_TASK_PLANS, StageWork
from story2video.storage.records import ArtifactRecord, CharacterRecord, OperationRecord, ShotRecord, StoryRecord
from story2video.uploads.service import UploadService
from story2video.webhooks.service import WebhookService

CREATE_STAGES = (("storyboard", 0.25), ("keyframes", 0.75))
REGENERATE_STAGES = (("keyframes", 1.0),)
RENDER_STAGES = (("shots", 0.85), ("final", 0.15))
STAGE_PLANS = {
    OperationKind.CREATE_STORYBOARD.value: CREATE_STAGES,
    OperationKind.REGENERATE_SHOT.value: REGENERATE_STAGES,
    OperationKind.RENDER_VIDEO.value: RENDER_STAGES,
    OperationKind.WRITE_SCRIPT.value: SCRIPT_STAGES,
    OperationKind.SCENE_PROMPTS.value: SCENE_PROMPT_STAGES,
    **STAGE_TASK_PLANS,
}
SCRIPT_CAST_KEY = "script_cast"  # stored with a storyboard made from a script: the cast the story takes
_IMAGE_FIELDS = ("subject", "detail", "narration", "style")
_SHOT_FIELDS = ("subject", "detail", "camera", "narration", "tone", "style")


class Engine:
    def __init__(self, deps: PipelineDeps, operations: OperationService, uploads: UploadService, webhooks: WebhookService):
        self.deps = deps
        self.operations = operations
        self.uploads = uploads
        self.webhooks = webhooks
        self.scripts = ScriptService(deps, operations)
        self.stages = StageWork(deps, operations)  # seed 003's stages, each on its own
        operations.executor = self.execute

    # ------------------------------------------------------------------ create

    def create_storyboard(self, request: CreateStoryboardRequest) -> OperationRecord:
        settings = self.deps.settings
        body = _wire_body(request)
        taken: dict = {}
        if request.script_id is not None:
            if request.script_content is not None:
                raise InvalidRequest("give script_content or script_id (+ episode), not both", param="script_id")
            text, cast = self.scripts.episode_for_story(request.user_id, request.script_id, request.episode or 1)
            request = request.model_copy(update={"script_content": text, "episode": request.episode or 1})
            taken = {"script_content": text, "episode": request.episode, SCRIPT_CAST_KEY: [draft.__dict__ for draft in cast]}
        elif request.episode is not None:
            raise InvalidRequest("episode goes with script_id", param="episode")
        elif request.script_content is None:
            raise InvalidRequest("script_content is required (or give script_id + episode)", param="script_content")
        if len(request.script_content) > settings.max_script_chars:
            raise InvalidRequest(
                f"script_content has {len(request.script_content)} characters; the limit is {settings.max_script_chars}",
                param="script_content",
            )
        if not any(char.isalnum() for char in request.script_content):
            raise InvalidRequest("script_content has no words to narrate (only spaces, punctuation or emoji)", param="script_content")
        if request.shot_count is not None and request.shot_count > settings.max_shots:
            raise InvalidRequest(f"shot_count may be at most {settings.max_shots}", param="shot_count")
        self.webhooks.check_request_callback(request.callback_url)
        seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
        return self._submit(OperationKind.CREATE_STORYBOARD, request, body, stored_body={**body, **taken, "seed": seed})

    def _story_of(self, request: CreateStoryboardRequest) -> StoryRecord:
        settings = self.deps.settings
        return StoryRecord(
            user_id=request.user_id,
            story_id=request.story_id,
            display_name=request.display_name or request.story_id,
            script=request.script_content,
            style=request.style,
            aspect_ratio=request.aspect_ratio or settings.default_aspect_ratio,
            resolution=request.resolution or settings.default_resolution,
        )

    async def _create(self, tracker: OperationTracker, request: CreateStoryboardRequest, script_cast: list[CharacterDraft]) -> dict:
        settings = self.deps.settings
        story = self._story_of(request)
        storyboard_request = StoryboardRequest(
            script=request.script_content,
            style=request.style,
            min_shots=settings.default_min_shots,
            max_shots=settings.default_max_shots,
            shot_count=request.shot_count,
            cast=tuple(script_cast),
        )
        storyboard = await write_storyboard(self.deps, tracker, storyboard_request)
        if script_cast:
            storyboard = adopt_cast(storyboard, script_cast, request.script_content)
        shots = shots_from_drafts(story, storyboard, request.seed)
        cast = cast_from_drafts(story, storyboard.cast)
        await asyncio.to_thread(self.deps.stories.replace_story, story, shots, cast)
        for shot in shots:
            tracker.set_shot(shot.shot_id, ShotState.WAITING)
        await paint_keyframes(self.deps, tracker, story, shots)
        return {"shots": [shot_view(self.deps.store, shot) for shot in shots]}

    # ------------------------------------------------------------------ regenerate

    def regenerate_shot(self, request: RegenerateShotRequest) -> OperationRecord:
        self._regeneration(request)
        self.webhooks.check_request_callback(request.callback_url)
        return self._submit(OperationKind.REGENERATE_SHOT, request, _wire_body(request))

    def _regeneration(self, request: RegenerateShotRequest) -> tuple[StoryRecord, dict, ArtifactRecord | None]:
        """(story, field changes, uploaded picture): checked when the request comes and again when it runs."""
        story = self.require_story(request.user_id, request.story_id)
        if self.deps.stories.get_shot(request.user_id, request.story_id, request.shot_id) is None:
            raise NotFound(f"story '{request.story_id}' has no shot '{request.shot_id}'")
        changes = {name: getattr(request, name) for name in _SHOT_FIELDS if getattr(request, name) is not None}
        for name, value in changes.items():
            if not value and name != "style":
                raise InvalidRequest(f"{name} may not be empty", param=name)
        picture = None
        if request.image_upload_id is not None:
            picture = self.uploads.artifact_for(request.user_id, request.image_upload_id, "image", "image_upload_id")
        return story, changes, picture

    async def _regenerate(self, tracker: OperationTracker, request: RegenerateShotRequest) -> dict:
        story, changes, picture = await asyncio.to_thread(self._regeneration, request)
        shot = self.deps.stories.get_shot(request.user_id, request.story_id, request.shot_id)
        if shot is None:  # deleted while this operation waited its turn
            raise NotFound(f"story '{request.story_id}' has no shot '{request.shot_id}'")
        picture_changed = any(getattr(shot, name) != changes[name] for name in _IMAGE_FIELDS if name in changes)
        if changes.get("narration", shot.narration) != shot.narration:
            shot.lines = []  # the old lines said the old narration: the narrator reads the new one
        for name, value in changes.items():
            setattr(shot, name, value)
        if picture is None and not picture_changed:  # same inputs: the caller wants another take, so draw with a new seed
            shot.seed = derive_seed(shot.seed, "regenerate", request.operation_id)
        shot.video_key = None
        shot.audio_key = None
        await asyncio.to_thread(self.deps.stories.save_shot, shot)
        tracker.set_shot(shot.shot_id, ShotState.WAITING)
        make = ensure_keyframe if picture is None else keyframe_from_upload(picture)
        await paint_keyframes(self.deps, tracker, story, [shot], make=make)
        return {"shot": shot_view(self.deps.store, shot)}

    # ------------------------------------------------------------------ render

    def render_video(self, request: RenderVideoRequest) -> OperationRecord:
        self._rendering(request)
        self.webhooks.check_request_callback(request.callback_url)
        return self._submit(OperationKind.RENDER_VIDEO, request, _wire_body(request))

    def _rendering(self, request: RenderVideoRequest) -> tuple[StoryRecord, list[ShotRecord], RenderSpec]:
        """(story, shots, spec): checked when the request comes and again when it runs."""
        story = self.require_story(request.user_id, request.story_id)
        shots = self.deps.stories.list_shots(request.user_id, request.story_id)
        if not shots:
            raise InvalidRequest(f"story '{request.story_id}' has no shots to render", param="story_id")
        return story, shots, self._render_spec(request, story)

    def _render_spec(self, request: RenderVideoRequest, story: StoryRecord) -> RenderSpec:
        settings = self.deps.settings
        width, height = output_size(
            request.aspect_ratio or story.aspect_ratio, request.resolution or settings.default_resolution
        )
        fps = request.fps or settings.default_fps
        music = None
        if request.music_upload_id is not None:
            music = self.uploads.artifact_for(request.user_id, request.music_upload_id, "audio", "music_upload_id")
        return RenderSpec(
            width=width,
            height=height,
            fps=fps,
            subtitles=request.subtitles,
            crossfade=round(request.crossfade * fps) / fps,  # whole frames, as the join cuts them
            music=request.music or music is not None,
            music_upload=music.key if music is not None else None,
            voice=request.voice if request.voice is not None else settings.default_voice,
            speed=request.speed,
            lead_in=settings.segment_lead_in_s,
            tail=settings.segment_tail_s,
        )

    async def _render(self, tracker: OperationTracker, request: RenderVideoRequest) -> dict:
        story, shots, spec = await asyncio.to_thread(self._rendering, request)
        for shot in shots:
            tracker.set_shot(shot.shot_id, ShotState.WAITING)
        return await self._published(story, await render_story(self.deps, tracker, story, shots, spec, first_come=tracker.record.created_at))

    async def _published(self, story: StoryRecord, outcome: RenderOutcome) -> dict:
        await asyncio.to_thread(
            self.deps.stories.set_story_video, story.user_id, story.story_id, outcome.video.key, outcome.subtitles.key
        )
        return {
            "video_url": public_url(self.deps.store, outcome.video),
            "subtitles_url": artifact_url(outcome.subtitles),
            "duration": outcome.duration,
        }

    # ------------------------------------------------------------------ reads

    def require_story(self, user_id: str, story_id: str) -> StoryRecord:
        story = self.deps.stories.get_story(user_id, story_id)
        if story is None:
            raise NotFound(f"story '{story_id}' does not exist for user '{user_id}'")
        return story

    def list_shots(self, user_id: str, story_id: str) -> list[ShotRecord]:
        self.require_story(user_id, story_id)
        return self.deps.stories.list_shots(user_id, story_id)

    def list_cast(self, user_id: str, story_id: str) -> list[CharacterRecord]:
        self.require_story(user_id, story_id)
        return self.deps.stories.list_cast(user_id, story_id)

    def update_character(self, story_id: str, character_id: str, request: UpdateCharacterRequest) -> CharacterRecord:
        """Apply a person's edit to one character. A new look, name or reference makes the next render
        draw again exactly the shots that show the character; a new voice re-speaks exactly its lines."""
        self.require_story(request.user_id, story_id)
        character = self.deps.stories.get_character(request.user_id, story_id, character_id)
        if character is None:
            raise NotFound(f"story '{story_id}' has no character '{character_id}'")
        if request.reference_upload_id is not None and request.redraw_reference:
            raise InvalidRequest("give reference_upload_id or redraw_reference, not both", param="redraw_reference")
        looks_before = (character.name, character.appearance, character.reference_key)
        for name in ("name", "appearance", "gender", "age", "timbre", "voice"):
            if getattr(request, name) is not None:
                setattr(character, name, getattr(request, name))
        if request.reference_upload_id is not None:
            picture = self.uploads.artifact_for(request.user_id, request.reference_upload_id, "image", "reference_upload_id")
            character.reference_key, character.reference_upload_id = picture.key, request.reference_upload_id
        elif request.redraw_reference:
            character.reference_key, character.reference_upload_id = None, None
            character.portrait_take += 1  # another seed: a new portrait, not the same one again
        elif (
            character.reference_upload_id is None and looks_before[:2] != (character.name, character.appearance)
        ):
            character.reference_key, character.reference_upload_id = None, None  # a portrait of the new look is drawn
        redraw = looks_before != (character.name, character.appearance, character.reference_key)
        self.deps.stories.save_character(character, redraw_shots=redraw)
        return character

    # ------------------------------------------------------------------ files

    def story_files(self, user_id: str, story_id: str, kind: str | None = None) -> list[StoryFile]:
        """The story's files (all, or those of one kind), the storyboard as JSON among them."""
        if kind is not None and kind not in FILE_KINDS:
            raise InvalidRequest(f"kind must be one of {', '.join(FILE_KINDS)}", param="kind")
        story = self.require_story(user_id, story_id)
        shots, cast = self.deps.stories.list_shots(user_id, story_id), self.deps.stories.list_cast(user_id, story_id)
        storyboard = json.dumps(story_view(self.deps.store, story, shots, cast), ensure_ascii=False, indent=2).encode("utf-8")
        files = story_files(self.deps.store, story, shots, cast, storyboard)
        return [file for file in files if kind is None or file.kind == kind]

    def files_to_download(self, user_id: str, story_id: str, kind: str | None, name: str | None) -> list[StoryFile]:
        """Seed 001's rule: a named file alone; else every file (of ``kind``), which the caller sends as
        that one file when there is exactly one and as a zip otherwise."""
        files = self.story_files(user_id, story_id, kind)
        if name is not None:
            files = [file for file in files if file.name == name]
            if not files:
                raise NotFound(f"story '{story_id}' has no file '{name}'" + (f" of kind '{kind}'" if kind else ""))
        elif not files:
            raise NotFound(f"story '{story_id}' has no {kind or ''} files yet".replace("  ", " "))
        return files

    # ------------------------------------------------------------------ editor exports

    def render_timeline(self, user_id: str, story_id: str) -> RenderTimeline:
        """The edit decisions of the story's current final video."""
        story = self.require_story(user_id, story_id)
        if not story.video_key:
            raise NotFound(f"story '{story_id}' has no rendered video yet: render it first")
        timeline = load_timeline(self.deps.store, story.video_key)
        if timeline is None:
            raise Conflict(
                f"story '{story_id}' was rendered before renders kept their edit decisions; render it again "
                "(every segment is reused, nothing is redrawn)",
                code="render_again",
            )
        return timeline

    def timeline_export(self, user_id: str, story_id: str, export_format: str, media_root: str) -> str:
        """An OTIO, FCPXML or EDL timeline of the render; media named as in the story's zip, after ``media_root``."""
        return otio_export(self.render_timeline(user_id, story_id), story_id, export_format, media_root)

    def jianying_export(self, user_id: str, story_id: str, draft_folder: str) -> list[StoryFile]:
        """The files of a Jianying draft folder named after the story: its two JSON files and its media."""
        timeline = self.render_timeline(user_id, story_id)
        store = self.deps.store
        media: dict[str, str] = {}  # name in the zip -> artifact key
        for shot in timeline.shots:
            media[f"{shot_media_folder(shot)}/segment.mp4"] = shot.segment
            media[f"{shot_media_folder(shot)}/narration.wav"] = shot.narration
        records = {}
        for name, key in media.items():
            record = store.get(key)
            if record is None:
                raise Conflict(f"a file of story '{story_id}''s render is gone ({name}); render it again", code="render_again")
            records[name] = record
        draft = jianying_draft(store, timeline, {name: store.path_of(record) for name, record in records.items()}, story_id, draft_folder)
        files = [
            StoryFile(f"{story_id}/{name}", "draft", None, len(data), "application/json", data=data)
            for name, data in ((name, json.dumps(value, ensure_ascii=False).encode("utf-8")) for name, value in draft.items())
        ]
        for name, record in records.items():
            files.append(StoryFile(f"{story_id}/materials/{name.replace('/', '_')}", "media", None, record.size_bytes, record.media_type, artifact=record))
        return files

    async def backend_statuses(self) -> list[BackendStatus]:
        providers = self.deps.providers.by_stage()
        results = await asyncio.gather(*(provider.status() for provider in providers.values()), return_exceptions=True)
        statuses = []
        for (stage, provider), result in zip(providers.items(), results):
            if isinstance(result, BaseException):
                result = BackendStatus(stage, provider.backend, provider.model, False, f"status check failed: {type(result).__name__}: {result}")
            statuses.append(BackendStatus(**{**result.__dict__, "stage": stage}))
        return statuses

    # ------------------------------------------------------------------ running (in this process)

    async def execute(self, tracker: OperationTracker) -> dict:
        """The whole work of an operation, from its stored request."""
        kind, body = tracker.record.kind, tracker.record.request
        if kind == OperationKind.CREATE_STORYBOARD.value:
            body = dict(body)
            script_cast = [CharacterDraft(**member) for member in body.pop(SCRIPT_CAST_KEY, [])]
            return await self._create(tracker, CreateStoryboardRequest.model_validate(body), script_cast)
        if kind in (OperationKind.WRITE_SCRIPT.value, OperationKind.SCENE_PROMPTS.value):
            return await self.scripts.execute(tracker)
        if kind == OperationKind.REGENERATE_SHOT.value:
            return await self._regenerate(tracker, RegenerateShotRequest.model_validate(body))
        if kind == OperationKind.RENDER_VIDEO.value:
            return await self._render(tracker, RenderVideoRequest.model_validate(body))
        if kind in STAGE_KINDS:
            return await self.stages.execute(tracker)
        raise InvalidRequest(f"unknown operation kind '{kind}'")

    # ------------------------------------------------------------------ a render spread over workers
    # begin_render plans it; each shot's media step, then its segment step, may run on any worker; the
    # last step joins. A shot step never fails the operation by itself: it reports, and the join decides
    # (every shot runs to its end first, so all finished work is cached, as in this process).

    async def begin_render(self, tracker: OperationTracker) -> list[str]:
        request = RenderVideoRequest.model_validate(tracker.record.request)
        _, shots, _ = await asyncio.to_thread(self._rendering, request)
        for shot in shots:
            tracker.set_shot(shot.shot_id, ShotState.WAITING)
        tracker.enter_stage("shots", [shot.shot_id for shot in shots])
        return [shot.shot_id for shot in shots]

    async def render_shot_media(self, tracker: OperationTracker, shot_id: str) -> dict:
        async def step(story: StoryRecord, shot: ShotRecord, spec: RenderSpec) -> dict:
            return {"media": media_to_wire(await shot_media(self.deps, tracker, story, shot, spec))}

        return await self._shot_step(tracker, shot_id, step)

    async def render_shot_segment(self, tracker: OperationTracker, shot_id: str, media: dict) -> dict:
        if "media" not in media:
            return media  # the media step failed, was cancelled or had nothing to do: pass its report on

        async def step(story: StoryRecord, shot: ShotRecord, spec: RenderSpec) -> dict:
            cut = await shot_segment(
                self.deps, tracker, shot, media_from_wire(self.deps, media["media"]), spec, first_come=tracker.record.created_at
            )
            await record_shot_done(self.deps, tracker, cut)
            return {"cut": cut_to_wire(cut)}

        return await self._shot_step(tracker, shot_id, step)

    async def finish_render(self, tracker: OperationTracker, reports: list[dict]) -> dict:
        """The join, once every shot has reported: the first failure (in shot order) fails the operation."""
        if tracker.is_cancelled() or any(report.get("cancelled") for report in reports):
            raise OperationCancelled()
        for report in reports:
            if "error" in report:
                raise RemoteError(report["error"])
        request = RenderVideoRequest.model_validate(tracker.record.request)
        story, shots, spec = await asyncio.to_thread(self._rendering, request)
        by_id = {shot.shot_id: shot for shot in shots}
        cuts = [cut_from_wire(self.deps, by_id[report["shot_id"]], report["cut"]) for report in reports if "cut" in report and report["shot_id"] in by_id]
        if len(cuts) != len(shots):
            raise InvalidRequest(f"story '{story.story_id}' changed its shots while it was rendering; render it again", param="story_id")
        tracker.enter_stage("final")
        return await self._published(story, await join_story(self.deps, tracker, cuts, spec, first_come=tracker.record.created_at))

    async def _shot_step(self, tracker: OperationTracker, shot_id: str, step) -> dict:
        report: dict = {"shot_id": shot_id}
        if tracker.is_cancelled():
            return {**report, "cancelled": True}
        try:
            request = RenderVideoRequest.model_validate(tracker.record.request)
            story, shots, spec = await asyncio.to_thread(self._rendering, request)
            shot = next((shot for shot in shots if shot.shot_id == shot_id), None)
            if shot is None:
                raise NotFound(f"story '{story.story_id}' has no shot '{shot_id}' any more")
            return {**report, **await step(story, shot, spec)}
        except OperationCancelled:
            return {**report, "cancelled": True}
        except Exception as error:  # reported to the join, which fails the operation with it
            failure = error if isinstance(error, Story2VideoError) else Story2VideoError(f"internal error: {describe_exception(error, with_type=True)}")
            failure.with_context(stage=tracker.record.stage, shot_id=shot_id)
            tracker.set_shot(shot_id, ShotState.FAILED, error=failure.to_dict())
            return {**report, "error": failure.to_dict()}

    # ------------------------------------------------------------------ internals

    def _submit(self, kind: OperationKind, request, body: dict, stored_body: dict | None = None) -> OperationRecord:
        return self.operations.submit(
            operation_id=request.operation_id,
            kind=kind.value,
            user_id=request.user_id,
            story_id=request.story_id,
            body=body,
            stored_body=stored_body,
        )


_ADDED_FIELDS = ("callback_url", "script_id", "episode")  # optional fields the seed's requests did not have


def _wire_body(request) -> dict:
    """The request as stored and hashed, without the added fields it leaves empty, so a request of a
    client that never sends them is the same operation as before they existed."""
    body = request.model_dump(mode="json")
    for name in _ADDED_FIELDS:
        if body.get(name) is None:
            body.pop(name, None)
    return body
