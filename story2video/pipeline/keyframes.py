"""Keyframe stage: one PNG per shot, cached by everything that decides the picture.

A shot's stored keyframe is drawn for the story's own frame, as a render with the default options
(subtitles on) shows it. A title card (the preview painter's) lays its text out for one frame size
and subtitle setting, and is cheap to draw, so a render with other options gets a card drawn for its
own frame instead of a crop of the stored one (``keyframe_for_frame``).

A shot with characters is drawn with their looks and reference pictures (``pipeline.portraits``);
where a consistency scorer is configured, it is scored against the references and drawn again with
derived seeds below ``CONSISTENCY_THRESHOLD``, up to ``CONSISTENCY_TAKES``; the best take is kept and
annotated (``consistency``, ``takes``, ``consistency_flagged``).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Awaitable, Callable, Sequence

from loguru import logger

from story2video.errors import InvalidRequest
from story2video.media.encoding import output_size
from story2video.media.pictures import fit_png_file
from story2video.pipeline.cache import artifact_key, derive_seed
from story2video.pipeline.deps import PipelineDeps, artifact_url
from story2video.pipeline.failures import stage_errors, within_timeout
from story2video.pipeline.portraits import Reference, shot_references
from story2video.pipeline.progress import Progress, ShotState
from story2video.pipeline.prompts import image_prompt
from story2video.pipeline.shots import run_per_shot
from story2video.pipeline.validate import png_validator
from story2video.providers.base import ImageRequest, StageContext
from story2video.storage.artifacts import Produced
from story2video.storage.records import ArtifactRecord, ShotRecord, StoryRecord

STAGE = "keyframes"
UPLOAD_BACKEND = "upload"

KeyframeMaker = Callable[[PipelineDeps, StoryRecord, ShotRecord, StageContext], Awaitable[ArtifactRecord]]


@dataclass(frozen=True)
class CardFrame:
    """The frame a keyframe is drawn for."""

    width: int
    height: int
    subtitled: bool  # burned-in subtitles will show the narration


def keyframe_size(story: StoryRecord) -> tuple[int, int]:
    return output_size(story.aspect_ratio, story.resolution)


def story_frame(story: StoryRecord) -> CardFrame:
    """The story's own frame, as a render with the default options (subtitles on) shows it."""
    width, height = keyframe_size(story)
    return CardFrame(width, height, subtitled=True)


async def ensure_keyframe(
    deps: PipelineDeps, story: StoryRecord, shot: ShotRecord, ctx: StageContext, frame: CardFrame | None = None
) -> ArtifactRecord:
    """The shot's keyframe for the story's frame: its characters' references made first, then the
    drift check (best of ``CONSISTENCY_TAKES``) where a scorer is configured. Sets ``shot.consistency``
    and ``shot.takes``; the caller saves the shot."""
    references = await shot_references(deps, story, shot, ctx)
    scorer = deps.providers.scorer
    if not references or scorer is None:
        record = await draw_take(deps, story, shot, ctx, references, shot.seed, frame)
        shot.consistency, shot.takes = None, 1
        return record
    threshold = deps.settings.consistency_threshold
    pictures = [deps.store.path_of(reference.picture) for reference in references]
    best: tuple[float, ArtifactRecord] | None = None
    for take in range(1, deps.settings.consistency_takes + 1):
        record = await draw_take(deps, story, shot, ctx, references, take_seed(shot.seed, take), frame)
        with stage_errors(STAGE, scorer.backend, shot.shot_id):
            score = round(float(await scorer.score(deps.store.path_of(record), pictures, ctx)), 4)
        if best is None or score > best[0]:
            best = (score, record)
        if score >= threshold:
            break
    score, record = best
    shot.consistency, shot.takes = score, take
    flagged = score < threshold
    if flagged:
        logger.warning(
            "shot {}: best of {} keyframes scores {:.3f} against its characters, below CONSISTENCY_THRESHOLD={:g}; kept and flagged",
            shot.shot_id, take, score, threshold,
        )
    return await deps.store.annotate(record.key, consistency=score, takes=take, consistency_flagged=flagged, scorer=scorer.model)


def take_seed(seed: int, take: int) -> int:
    """The seed of the drift check's ``take``-th keyframe (1-based): the shot's own seed first."""
    return seed if take == 1 else derive_seed(seed, "take", take)


async def draw_take(
    deps: PipelineDeps,
    story: StoryRecord,
    shot: ShotRecord,
    ctx: StageContext,
    references: Sequence[Reference],
    seed: int,
    frame: CardFrame | None = None,
) -> ArtifactRecord:
    """One keyframe drawn with ``seed``: cached by everything that decides it, the characters' looks
    and their references' artifact keys included."""
    painter = deps.providers.image
    frame = frame or story_frame(story)
    width, height = frame.width, frame.height
    request = ImageRequest(
        prompt=await image_prompt(deps, shot, ctx),
        subject=shot.subject,
        narration=shot.narration,
        style=shot.style,
        width=width,
        height=height,
        seed=seed,
        shot_index=shot.sequence - 1,
        subtitled=frame.subtitled,
        characters=tuple(reference.look for reference in references),
        references=tuple(deps.store.path_of(reference.picture) for reference in references),
    )
    inputs = {key: value for key, value in asdict(request).items() if key != "references"}
    if references:
        inputs["references"] = [reference.picture.key for reference in references]
    key = artifact_key("keyframe", backend=painter.backend, model=painter.model, request=inputs)

    async def produce(dest):
        with stage_errors(STAGE, painter.backend, shot.shot_id):
            result = await within_timeout(
                painter.generate(request, dest, deps.for_artifact(ctx, key)), deps.settings.keyframe_timeout_s, STAGE, painter.backend
            )
        meta = {"prompt": request.prompt, "seed": request.seed}
        if result is not None and result.actual_prompt:
            meta["actual_prompt"] = result.actual_prompt
        return Produced(painter.backend, painter.model, meta=meta)

    with stage_errors(STAGE, painter.backend, shot.shot_id):
        return await deps.store.ensure(key, "keyframe", "png", produce, png_validator(width, height))


async def keyframe_for_frame(
    deps: PipelineDeps, story: StoryRecord, shot: ShotRecord, stored: ArtifactRecord, frame: CardFrame, ctx: StageContext
) -> ArtifactRecord:
    """The keyframe a render of ``frame`` uses: ``stored`` as it is (a picture is cover-fitted to the
    frame), except when the backend in use made it and redraws per frame (title cards): then the
    card drawn for ``frame`` with the take's seed (for the story's own frame that is ``stored`` again,
    by its key)."""
    painter = deps.providers.image
    if not getattr(painter, "redraw_per_frame", False) or stored.backend != painter.backend:
        return stored
    references = await shot_references(deps, story, shot, ctx)
    return await draw_take(deps, story, shot, ctx, references, int(stored.meta.get("seed", shot.seed)), frame)


def keyframe_from_upload(upload: ArtifactRecord) -> KeyframeMaker:
    """A maker that fits the user's uploaded picture to the story's keyframe size instead of drawing."""

    async def make(deps: PipelineDeps, story: StoryRecord, shot: ShotRecord, ctx: StageContext) -> ArtifactRecord:
        width, height = keyframe_size(story)
        key = artifact_key("keyframe", backend=UPLOAD_BACKEND, upload=upload.key, width=width, height=height)

        async def produce(dest):
            if deps.store.get(upload.key) is None:
                raise InvalidRequest("image_upload_id: the upload was deleted before the shot could use it", param="image_upload_id")
            await asyncio.to_thread(fit_png_file, deps.store.path_of(upload), dest, width, height)
            return Produced(UPLOAD_BACKEND, upload.model, meta={"upload": upload.key})

        shot.consistency, shot.takes = None, 0  # the person's own picture: not drawn, not scored
        with stage_errors(STAGE, UPLOAD_BACKEND, shot.shot_id):
            return await deps.store.ensure(key, "keyframe", "png", produce, png_validator(width, height))

    return make


async def paint_keyframes(
    deps: PipelineDeps,
    progress: Progress,
    story: StoryRecord,
    shots: Sequence[ShotRecord],
    make: KeyframeMaker = ensure_keyframe,
) -> None:
    """Make every shot's keyframe (in parallel, bounded) and save it on the shot as soon as it exists."""
    progress.enter_stage(STAGE, [shot.shot_id for shot in shots])

    async def one(shot: ShotRecord) -> None:
        progress.set_shot(shot.shot_id, ShotState.WORKING, step="keyframe")
        record = await make(deps, story, shot, progress.context(shot.shot_id))
        shot.image_key = record.key
        await asyncio.to_thread(deps.stories.save_shot, shot)
        progress.set_shot(shot.shot_id, ShotState.DONE, image_url=artifact_url(record))

    await run_per_shot(progress, shots, one, deps.settings.shot_concurrency)
