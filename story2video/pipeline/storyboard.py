"""Storyboard stage: the script becomes shots, checked against the request before anything is saved."""

from __future__ import annotations

from story2video.errors import BackendError
from story2video.pipeline.cache import derive_seed
from story2video.pipeline.deps import PipelineDeps
from story2video.pipeline.failures import stage_errors, within_timeout
from story2video.pipeline.progress import Progress
from story2video.providers.base import ShotDraft, StoryboardRequest
from story2video.storage.records import ShotRecord, StoryRecord

STAGE = "storyboard"
_FIELDS = ("subject", "detail", "camera", "narration", "tone")


def shot_id_for(sequence: int) -> str:
    return f"shot_{sequence:02d}"


async def write_storyboard(deps: PipelineDeps, progress: Progress, request: StoryboardRequest) -> list[ShotDraft]:
    progress.enter_stage(STAGE)
    writer = deps.providers.storyboard
    with stage_errors(STAGE, writer.backend):
        drafts = await within_timeout(
            writer.write(request, progress.context()), deps.settings.storyboard_timeout_s, STAGE, writer.backend
        )
        _check_drafts(drafts, request, writer.backend)
    return drafts


def _check_drafts(drafts: list[ShotDraft], request: StoryboardRequest, backend: str) -> None:
    count = len(drafts)
    if request.shot_count is not None and count != request.shot_count:
        raise BackendError(f"the storyboard has {count} shots, {request.shot_count} were requested", backend=backend)
    if request.shot_count is None and not request.min_shots <= count <= request.max_shots:
        raise BackendError(
            f"the storyboard has {count} shots, expected {request.min_shots} to {request.max_shots}", backend=backend
        )
    for index, draft in enumerate(drafts, start=1):
        empty = [name for name in _FIELDS if not getattr(draft, name).strip()]
        if empty:
            raise BackendError(f"shot {index} of the storyboard has empty fields: {', '.join(empty)}", backend=backend)


def shots_from_drafts(story: StoryRecord, drafts: list[ShotDraft], base_seed: int) -> list[ShotRecord]:
    return [
        ShotRecord(
            user_id=story.user_id,
            story_id=story.story_id,
            shot_id=shot_id_for(sequence),
            sequence=sequence,
            subject=draft.subject.strip(),
            detail=draft.detail.strip(),
            camera=draft.camera.strip(),
            narration=draft.narration.strip(),
            tone=draft.tone.strip(),
            style=story.style,
            seed=derive_seed(base_seed, story.story_id, sequence),
        )
        for sequence, draft in enumerate(drafts, start=1)
    ]
