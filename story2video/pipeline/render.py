"""Render stage: per shot narration → keyframe → clip → segment (shots in parallel), then the final join.

Each artifact is keyed by a hash of its inputs, so a second render reuses everything and a changed
shot redoes only its own segment and the join.

The join copies video and audio: the soundtrack is encoded from the narrations as soon as every shot's
narration exists, while the segments encode. Segments and joins take compose slots first come, first
served across operations (``first_come``: when the operation was submitted), longest segment first
within one (``slots.RankedSlots``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

from story2video.errors import InvalidRequest
from story2video.media.compose import SegmentSpec, SoundPart, encode_segment, encode_soundtrack, join_segments
from story2video.media.dissolves import Edges
from story2video.media.encoding import RenderProfile, encoder_threads
from story2video.media.subtitles import Cue, SubtitleFrame, write_srt
from story2video.pipeline.cache import artifact_key
from story2video.pipeline.deps import PipelineDeps, artifact_url
from story2video.pipeline.failures import stage_errors, within_timeout
from story2video.pipeline.captions import shot_captions
from story2video.pipeline.clipinputs import ClipInputs, clip_inputs, write_speech_track
from story2video.pipeline.crossfades import EarlyCrossfades
from story2video.pipeline.narration import cast_voices, ensure_narration
from story2video.pipeline.keyframes import CardFrame, ensure_keyframe, keyframe_for_frame
from story2video.pipeline.progress import Progress, ShotState
from story2video.pipeline.shots import run_per_shot
from story2video.pipeline.timeline import RenderTimeline, shot_timeline, store_timeline
from story2video.pipeline.validate import composed_mp4, mp4_validator, validate_srt
from story2video.providers.base import Clip, ClipFile, ClipRequest, StageContext, StillMotion
from story2video.storage.artifacts import Produced
from story2video.storage.records import ArtifactRecord, ShotRecord, StoryRecord
from story2video.util.workdirs import work_folder

# (start, end) of each step within one shot's share of the progress bar
STEP_SPANS = {"narration": (0.0, 0.15), "keyframe": (0.15, 0.3), "clip": (0.3, 0.6), "segment": (0.6, 1.0)}


@dataclass(frozen=True)
class RenderSpec:
    width: int
    height: int
    fps: int
    subtitles: bool
    crossfade: float
    music: bool
    voice: str
    speed: float
    lead_in: float
    tail: float
    music_upload: str | None = None  # the artifact key of the user's music; None = MUSIC_PATH or the pad


@dataclass
class ShotCut:
    shot: ShotRecord
    segment: ArtifactRecord
    narration: ArtifactRecord
    duration: float
    cues: list[Cue]  # timed from the segment's start
    encoded_now: bool = False  # the segment was encoded by this call, not found in the cache


@dataclass
class RenderOutcome:
    video: ArtifactRecord
    subtitles: ArtifactRecord
    duration: float
    cuts: list[ShotCut]


def _profile(deps: PipelineDeps, spec: RenderSpec) -> RenderProfile:
    s = deps.settings
    return RenderProfile(
        width=spec.width,
        height=spec.height,
        fps=spec.fps,
        encoder=s.video_encoder,
        preset=s.x264_preset,
        crf=s.video_crf,
        audio_bitrate=s.audio_bitrate,
    )


@dataclass
class ShotMedia:
    """What a shot's segment is cut from: its narration, the keyframe for the render's frame, its clip."""

    narration: ArtifactRecord
    keyframe: ArtifactRecord
    clip: Clip


async def render_story(
    deps: PipelineDeps,
    progress: Progress,
    story: StoryRecord,
    shots: Sequence[ShotRecord],
    spec: RenderSpec,
    *,
    first_come: float | None = None,
) -> RenderOutcome:
    """The whole render in this process: every shot (bounded in parallel), then the join; the
    soundtrack is encoded as soon as every narration exists, and each crossfade as soon as its two
    segments do, beside the shots' remaining work.

    When there are at least as many segments as compose slots, each encode gets its share of the
    cores (``encoder_threads``) instead of threads of its own on all of them."""
    first_come = time.time() if first_come is None else first_come
    progress.enter_stage("shots", [shot.shot_id for shot in shots])
    loop = asyncio.get_running_loop()
    narrations: dict[str, asyncio.Future[ArtifactRecord]] = {shot.shot_id: loop.create_future() for shot in shots}
    side_by_side = deps.compose_slots.capacity
    threads = encoder_threads(min(side_by_side, len(shots)))
    order = {shot.shot_id: index for index, shot in enumerate(shots)}

    async def one(shot: ShotRecord) -> ShotCut:
        media = await shot_media(deps, progress, story, shot, spec, narrated=narrations[shot.shot_id].set_result)
        index = order[shot.shot_id]
        cut = await shot_segment(deps, progress, shot, media, spec, first_come=first_come, threads=threads,
                                 edges=crossfades.edges(index))
        crossfades.segment_done(index, deps.store.path_of(cut.segment), cut.duration, encoded_now=cut.encoded_now)
        await record_shot_done(deps, progress, cut)
        return cut

    with work_folder("soundtrack-") as folder:
        crossfades = EarlyCrossfades(
            deps, _profile(deps, spec), spec.crossfade, len(shots), Path(folder),
            first_come=first_come, threads=encoder_threads(side_by_side), ctx=progress.context(),
        )

        async def soundtrack() -> Path:
            narrated = await asyncio.gather(*narrations.values())
            return await make_soundtrack(deps, narrated, spec, Path(folder) / "soundtrack.m4a", progress.context())

        early = asyncio.ensure_future(soundtrack())
        try:
            cuts = await run_per_shot(progress, shots, one, deps.settings.shot_concurrency)
            progress.enter_stage("final")
            return await join_story(deps, progress, cuts, spec, first_come=first_come, soundtrack=early, crossfades=crossfades)
        finally:
            early.cancel()  # unused when a shot failed or the video was made before
            await asyncio.gather(early, return_exceptions=True)
            await crossfades.cancel()


def _step(progress: Progress, shot: ShotRecord, name: str) -> StageContext:
    progress.set_shot(shot.shot_id, ShotState.WORKING, step=name)
    return progress.context(shot.shot_id, STEP_SPANS[name])


async def shot_media(
    deps: PipelineDeps,
    progress: Progress,
    story: StoryRecord,
    shot: ShotRecord,
    spec: RenderSpec,
    *,
    narrated: Callable[[ArtifactRecord], object] | None = None,
) -> ShotMedia:
    """The model work of one shot: narration (handed to ``narrated`` as soon as it exists), keyframe
    (drawn if missing) and clip."""
    cast = await asyncio.to_thread(deps.stories.list_cast, story.user_id, story.story_id)
    voices = cast_voices(deps.providers.speech, cast, spec.voice)
    narration = await ensure_narration(deps, shot, voices, spec.voice, spec.speed, _step(progress, shot, "narration"))
    if narrated is not None:
        narrated(narration)
    ctx = _step(progress, shot, "keyframe")
    stored = (shot.image_key and deps.store.get(shot.image_key)) or await ensure_keyframe(deps, story, shot, ctx)
    if shot.image_key != stored.key:
        shot.image_key = stored.key
        await asyncio.to_thread(deps.stories.save_shot, shot)
    keyframe = await keyframe_for_frame(deps, story, shot, stored, CardFrame(spec.width, spec.height, spec.subtitles), ctx)
    duration = spec.lead_in + float(narration.duration or 0.0) + spec.tail
    ctx = _step(progress, shot, "clip")
    inputs = await clip_inputs(deps, deps.providers.video, story, shot, narration, spec.lead_in, ctx)
    clip = await make_clip(deps, shot, keyframe, duration, spec, ctx, inputs)
    return ShotMedia(narration=narration, keyframe=keyframe, clip=clip)


async def shot_segment(
    deps: PipelineDeps,
    progress: Progress,
    shot: ShotRecord,
    media: ShotMedia,
    spec: RenderSpec,
    *,
    first_come: float | None = None,
    threads: int = 0,
    edges: Edges | None = None,
) -> ShotCut:
    """The composition work of one shot: its segment, narration and subtitles burned over the clip.
    ``first_come``: when the operation was submitted (its turn for a compose slot; default now);
    ``threads``: the encoder's (0: its own choice); ``edges``: where an encode also writes the
    frames of its crossfades (``EarlyCrossfades.edges``)."""
    return await ensure_segment(
        deps, shot, media.keyframe, media.narration, media.clip, spec, _step(progress, shot, "segment"),
        first_come=time.time() if first_come is None else first_come, threads=threads, edges=edges,
    )


async def record_shot_done(deps: PipelineDeps, progress: Progress, cut: ShotCut) -> None:
    shot = cut.shot
    shot.video_key = cut.segment.key
    shot.audio_key = cut.narration.key
    await asyncio.to_thread(deps.stories.save_shot, shot)
    progress.set_shot(shot.shot_id, ShotState.DONE, video_url=artifact_url(cut.segment))


async def make_clip(
    deps: PipelineDeps,
    shot: ShotRecord,
    keyframe: ArtifactRecord,
    duration: float,
    spec: RenderSpec,
    ctx: StageContext,
    extra: ClipInputs = ClipInputs(),
) -> Clip:
    video = deps.providers.video
    request = ClipRequest(
        keyframe=deps.store.path_of(keyframe),
        prompt=shot.detail,
        camera=shot.camera,
        duration=round(duration, 3),
        width=spec.width,
        height=spec.height,
        fps=spec.fps,
        seed=shot.seed,
        references=extra.clip_references(deps),
    )
    inputs = {name: value for name, value in asdict(request).items() if name not in ("references", "speech")}
    inputs.update(keyframe=keyframe.key, **extra.identity())  # without references or speech: the key clips always had
    key = artifact_key("clip", backend=video.backend, model=video.model, request=inputs)
    async with deps.store.producing(key):
        record = deps.store.get(key)
        if record is None:
            temp = deps.store.temp_path(key, "mp4")
            speech = deps.store.temp_path(key, "wav") if "speech" in inputs else None
            try:
                with stage_errors("clips", video.backend, shot.shot_id):
                    if speech is not None:
                        request = replace(request, speech=await write_speech_track(deps, extra, speech))
                    made = video.animate(request, temp, deps.for_artifact(ctx, key))
                    clip = await within_timeout(made, deps.settings.clip_timeout_s, "clips", video.backend)
                    if isinstance(clip, StillMotion):
                        return clip
                    meta = {"prompt": request.prompt, **({"lip_synced": True} if clip.lip_synced else {})}
                    produced = Produced(video.backend, video.model, duration=clip.duration, meta=meta)
                    record = await deps.store.adopt(key, "clip", temp, produced, mp4_validator(deps.ffmpeg, require_audio=False))
            finally:
                temp.unlink(missing_ok=True)
                if speech is not None:
                    speech.unlink(missing_ok=True)
    fit = "hold" if (record.meta or {}).get("lip_synced") else deps.settings.clip_fit  # slowing would part lips and words
    return ClipFile(path=deps.store.path_of(record), duration=float(record.duration or duration), fit=fit)


def _clip_identity(clip: Clip) -> dict:
    if isinstance(clip, StillMotion):
        return {"motion": asdict(clip)}
    return {"file": clip.path.name, "fit": clip.fit}


async def ensure_segment(
    deps: PipelineDeps,
    shot: ShotRecord,
    keyframe: ArtifactRecord,
    narration: ArtifactRecord,
    clip: Clip,
    spec: RenderSpec,
    ctx: StageContext,
    *,
    first_come: float,
    threads: int = 0,
    edges: Edges | None = None,
) -> ShotCut:
    spoken = float(narration.duration or 0.0)
    cast = await asyncio.to_thread(deps.stories.list_cast, shot.user_id, shot.story_id)
    rule = SubtitleFrame(spec.width, spec.height).line_rule(deps.font)  # measured with the font they are drawn in
    captions = shot_captions(narration, shot.narration, cast, deps.settings.subtitle_speakers, spec.lead_in, rule)
    cues = captions.cues
    profile = _profile(deps, spec)
    key = artifact_key(
        "segment",
        keyframe=keyframe.key,
        narration=narration.key,
        clip=_clip_identity(clip),
        profile=asdict(profile),
        lead_in=spec.lead_in,
        tail=spec.tail,
        subtitles=[asdict(cue) for cue in cues] if spec.subtitles else None,
        font=deps.font.family,
        crossfade=spec.crossfade,  # where the segment's IDRs go
    )
    segment_spec = SegmentSpec(
        keyframe=deps.store.path_of(keyframe),
        clip=clip,
        narration=deps.store.path_of(narration),
        narration_duration=spoken,
        lead_in=spec.lead_in,
        tail=spec.tail,
        cues=cues if spec.subtitles else None,
        font=deps.font,
        crossfade=spec.crossfade,
    )

    encoded_now = False

    async def produce(dest: Path) -> Produced:
        nonlocal encoded_now
        encoded_now = True
        seconds = await encode_segment(deps.ffmpeg, segment_spec, profile, dest, ctx, threads=threads,
                                       slot=deps.compose_slots.slot(first_come, segment_spec.duration), edges=edges)
        # The keys of what it was made from: retention keeps them while it keeps the segment.
        inputs = {"keyframe": keyframe.key, "narration": narration.key}
        if isinstance(clip, ClipFile):
            inputs["clip"] = clip.path.stem
        meta = {"shot_id": shot.shot_id, "timing": captions.timing, **inputs}
        return Produced("ffmpeg", profile.encoder, duration=seconds, meta=meta)

    with stage_errors("segments", "ffmpeg", shot.shot_id):
        record = await deps.store.ensure(key, "segment", "mp4", produce, composed_mp4)
    return ShotCut(
        shot=shot, segment=record, narration=narration, duration=float(record.duration or 0.0), cues=cues, encoded_now=encoded_now
    )


def _music_source(deps: PipelineDeps, spec: RenderSpec) -> tuple[Path | None, dict | None]:
    if not spec.music:
        return None, None
    if spec.music_upload is not None:
        record = deps.store.get(spec.music_upload)
        if record is None:
            raise InvalidRequest("music_upload_id: the upload was deleted before the render could use it", param="music_upload_id")
        return deps.store.path_of(record), {"upload": record.key}
    path = deps.settings.music_path
    if path is None:
        return None, {"generated": True}
    stat = Path(path).stat()
    return Path(path), {"file": str(path), "size": stat.st_size, "mtime": stat.st_mtime}


def sound_parts(deps: PipelineDeps, narrations: Sequence[ArtifactRecord], spec: RenderSpec) -> list[SoundPart]:
    """Each shot's share of the soundtrack: the segment it lies in lasts lead-in + narration + tail."""
    return [
        SoundPart(deps.store.path_of(record), spec.lead_in, spec.lead_in + float(record.duration or 0.0) + spec.tail)
        for record in narrations
    ]


async def make_soundtrack(
    deps: PipelineDeps, narrations: Sequence[ArtifactRecord], spec: RenderSpec, dest: Path, ctx: StageContext
) -> Path:
    """The final video's audio track (narrations, crossfades, music), to be copied by the join."""
    music_path, music_identity = _music_source(deps, spec)
    await encode_soundtrack(
        deps.ffmpeg,
        sound_parts(deps, narrations, spec),
        dest,
        crossfade=spec.crossfade,
        music=music_path,
        generated_music=music_identity == {"generated": True},
        profile=_profile(deps, spec),
        ctx=ctx,
    )
    return dest


async def join_story(
    deps: PipelineDeps,
    progress: Progress,
    cuts: list[ShotCut],
    spec: RenderSpec,
    *,
    first_come: float | None = None,
    soundtrack: asyncio.Future[Path] | None = None,
    crossfades: EarlyCrossfades | None = None,
) -> RenderOutcome:
    """The final video and its subtitles. ``soundtrack``: the audio track being made from these cuts'
    narrations (``make_soundtrack``); without it the join makes it first. ``crossfades``: the
    transitions being encoded beside the segments; the join encodes those not started there."""
    first_come = time.time() if first_come is None else first_come
    profile = _profile(deps, spec)
    _, music_identity = _music_source(deps, spec)
    segment_keys = [cut.segment.key for cut in cuts]
    key = artifact_key("video", segments=segment_keys, crossfade=spec.crossfade, music=music_identity, profile=asdict(profile))
    paths = [deps.store.path_of(cut.segment) for cut in cuts]
    durations = [cut.duration for cut in cuts]
    ctx = progress.context()

    async def produce_video(dest: Path) -> Produced:
        with work_folder("join-soundtrack-") as folder:
            if soundtrack is not None:
                track = await soundtrack
            else:
                track = await make_soundtrack(deps, [cut.narration for cut in cuts], spec, Path(folder) / "soundtrack.m4a", ctx)
            seconds = await join_segments(
                deps.ffmpeg, paths, durations, dest, crossfade=spec.crossfade, soundtrack=track,
                transitions=crossfades.made() if crossfades is not None else None,
                profile=profile, ctx=ctx, slot=deps.compose_slots.slot(first_come, sum(durations)),
            )
        return Produced("ffmpeg", profile.encoder, duration=seconds, meta={"segments": segment_keys})

    async def produce_srt(dest: Path) -> Produced:
        await asyncio.to_thread(write_srt, timeline_cues(cuts, spec.crossfade), dest)
        return Produced("ffmpeg", "srt", meta={"video": key})

    with stage_errors("final", "ffmpeg"):
        video = await deps.store.ensure(key, "video", "mp4", produce_video, composed_mp4)
        srt = await deps.store.ensure(artifact_key("subtitles", video=key), "subtitles", "srt", produce_srt, validate_srt)
        await store_timeline(deps.store, video, render_timeline(cuts, spec, profile, video, srt))
    return RenderOutcome(video=video, subtitles=srt, duration=float(video.duration or 0.0), cuts=cuts)


def render_timeline(cuts: list[ShotCut], spec: RenderSpec, profile: RenderProfile, video: ArtifactRecord, srt: ArtifactRecord) -> RenderTimeline:
    """The edit decisions of the join: frames per segment and of the crossfade, as join_segments counts them."""
    shots = tuple(
        shot_timeline(
            shot_id=cut.shot.shot_id,
            sequence=cut.shot.sequence,
            segment=cut.segment,
            frames=profile.frames(cut.duration),
            narration=cut.narration,
            narration_start=spec.lead_in,
            cues=[(cue.start, cue.end, cue.text) for cue in cut.cues],
        )
        for cut in cuts
    )
    fade = profile.fade_frames(spec.crossfade) if len(cuts) > 1 else 0
    return RenderTimeline(
        video=video.key, subtitles=srt.key, fps=spec.fps, width=spec.width, height=spec.height, fade_frames=fade, burned_subtitles=spec.subtitles, shots=shots
    )


def timeline_cues(cuts: list[ShotCut], crossfade: float) -> list[Cue]:
    """Every shot's cues shifted to where that shot starts in the final video."""
    cues: list[Cue] = []
    offset = 0.0
    for cut in cuts:
        cues.extend(replace(c, start=c.start + offset, end=c.end + offset) for c in cut.cues)
        offset += cut.duration - crossfade
    return cues
