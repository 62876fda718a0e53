"""Records → wire dictionaries (URLs relative here; made absolute when a response is sent)."""

from __future__ import annotations

from story2video.pipeline.deps import artifact_url, public_url
from story2video.storage.artifacts import ArtifactStore
from story2video.scriptformat import split_scenes
from story2video.storage.records import (
    ArtifactRecord,
    CharacterRecord,
    EpisodeRecord,
    OperationRecord,
    ScriptRecord,
    ShotRecord,
    StoryRecord,
    UploadRecord,
)

_DETAIL = {
    "Queued": "waiting for a free worker",
    "Running": "in progress",
    "Success": "done",
    "Cancelled": "cancelled",
}


def operation_info(record: OperationRecord) -> dict:
    detail = _DETAIL.get(record.status, "")
    if record.status == "Running" and record.stage:
        detail = f"in progress: {record.stage}"
    if record.error:
        detail = record.error.get("message", detail)
    return {"operation_id": record.operation_id, "status": record.status, "detail": detail}


def _artifact_info(store: ArtifactStore, record: ArtifactRecord) -> dict:
    """``url`` is the published link when there is one; ``local_url`` is always this service's own."""
    return {
        "url": public_url(store, record),
        "local_url": artifact_url(record),
        "backend": record.backend,
        "model": record.model,
        "duration": record.duration,
    }


def shot_view(store: ArtifactStore, shot: ShotRecord) -> dict:
    image = store.get(shot.image_key) if shot.image_key else None
    video = store.get(shot.video_key) if shot.video_key else None
    audio = store.get(shot.audio_key) if shot.audio_key else None
    named = (("image", image), ("audio", audio), ("video", video))
    artifacts = {name: _artifact_info(store, record) for name, record in named if record is not None}
    return {
        "id": shot.shot_id,
        "sequence": shot.sequence,
        "subject": shot.subject,
        "detail": shot.detail,
        "camera": shot.camera,
        "narration": shot.narration,
        "tone": shot.tone,
        "image_url": public_url(store, image),
        "video_url": public_url(store, video),
        "style": shot.style,
        "seed": shot.seed,
        "characters": shot.characters,
        "lines": shot.lines,
        "consistency": shot.consistency,
        "takes": shot.takes,
        "consistency_flagged": bool(image and image.meta.get("consistency_flagged")),  # decided when it was drawn
        "artifacts": artifacts,
    }


def character_view(store: ArtifactStore, character: CharacterRecord, shots: list[ShotRecord]) -> dict:
    reference = store.get(character.reference_key) if character.reference_key else None
    source = None if reference is None else ("upload" if character.reference_upload_id else "drawn")
    return {
        "character_id": character.character_id,
        "name": character.name,
        "appearance": character.appearance,
        "gender": character.gender,
        "age": character.age,
        "timbre": character.timbre,
        "voice": character.voice,
        "reference_url": public_url(store, reference),
        "reference_source": source,
        "shot_ids": [shot.shot_id for shot in shots if character.character_id in shot.characters],
    }


def story_view(store: ArtifactStore, story: StoryRecord, shots: list[ShotRecord], cast: list[CharacterRecord]) -> dict:
    video = store.get(story.video_key) if story.video_key else None
    subtitles = store.get(story.subtitles_key) if story.subtitles_key else None
    return {
        "story_id": story.story_id,
        "user_id": story.user_id,
        "display_name": story.display_name,
        "style": story.style,
        "aspect_ratio": story.aspect_ratio,
        "resolution": story.resolution,
        "script_content": story.script,
        "cast": [character_view(store, character, shots) for character in cast],
        "shots": [shot_view(store, shot) for shot in shots],
        "video_url": public_url(store, video),
        "subtitles_url": artifact_url(subtitles),
        "artifacts": {name: _artifact_info(store, record) for name, record in (("video", video), ("subtitles", subtitles)) if record},
        "created_at": story.created_at,
        "updated_at": story.updated_at,
    }


def operation_view(record: OperationRecord) -> dict:
    return {
        "operation_id": record.operation_id,
        "kind": record.kind,
        "status": record.status,
        "stage": record.stage,
        "progress": record.progress,
        "story_id": record.story_id,
        "user_id": record.user_id,
        "shots": record.shots,
        "error": record.error,
        "result": record.result,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def upload_view(store: ArtifactStore, upload: UploadRecord) -> dict:
    fields = {name: getattr(upload, name) for name in UploadRecord.__dataclass_fields__ if name != "artifact_key"}
    return {**fields, "url": artifact_url(store.get(upload.artifact_key))}


_UNFINISHED_OPERATION = ("Queued", "Running")
_SCRIPT_STATUS = {"Success": "done", "Cancelled": "cancelled", "Failed": "failed"}


def script_status(operation: OperationRecord | None, episodes: list[EpisodeRecord]) -> str:
    """writing | done | cancelled | failed | interrupted, from the operation that writes the script (a
    shutdown or crash in the middle of an episode is "interrupted")."""
    if operation is None:
        return "done" if all(episode.state in ("done", "edited") for episode in episodes) else "interrupted"
    if operation.status in _UNFINISHED_OPERATION:
        return "writing"
    interrupted = (operation.error or {}).get("code") == "interrupted" or any(e.state == "interrupted" for e in episodes)
    if operation.status == "Failed" and interrupted:
        return "interrupted"
    return _SCRIPT_STATUS.get(operation.status, "failed")


def episode_state(episode: EpisodeRecord, operation: OperationRecord | None) -> str:
    """An episode left waiting or writing by an operation that has ended was cut short: cancelled with
    it, or interrupted (a shutdown or crash)."""
    ended = operation is None or operation.status not in _UNFINISHED_OPERATION
    if ended and episode.state in ("waiting", "writing"):
        return "cancelled" if operation is not None and operation.status == "Cancelled" else "interrupted"
    return episode.state


def script_view(script: ScriptRecord, episodes: list[EpisodeRecord], operation: OperationRecord | None) -> dict:
    return {
        "script_id": script.script_id,
        "user_id": script.user_id,
        "title": script.title,
        "premise": script.premise,
        "genre": script.genre,
        "duration": script.duration,
        "style": script.style,
        "language": script.language,
        "status": script_status(operation, episodes),
        "operation_id": script.operation_id,
        "cast": script.cast_members,
        "outline": script.outline,
        "episodes": [
            {
                "episode": episode.episode,
                "title": episode.title,
                "summary": episode.summary,
                "state": episode_state(episode, operation),
                "text": episode.text,
                "scenes": len(split_scenes(episode.text)),
                "scene_prompts": episode.scene_prompts,
            }
            for episode in episodes
        ],
        "created_at": script.created_at,
        "updated_at": script.updated_at,
    }


def script_summary(script: ScriptRecord, episodes: list[EpisodeRecord], operation: OperationRecord | None) -> dict:
    return {
        "script_id": script.script_id,
        "title": script.title,
        "status": script_status(operation, episodes),
        "episodes": script.episode_count,
        "written": sum(1 for episode in episodes if episode.state in ("done", "edited")),
        "updated_at": script.updated_at,
    }
