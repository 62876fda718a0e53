"""Plain records as stored in the database."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StoryRecord:
    user_id: str
    story_id: str
    display_name: str
    script: str
    style: str
    aspect_ratio: str
    resolution: int
    video_key: str | None = None
    subtitles_key: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass
class ShotRecord:
    user_id: str
    story_id: str
    shot_id: str
    sequence: int
    subject: str
    detail: str
    camera: str
    narration: str
    tone: str
    style: str
    seed: int
    image_key: str | None = None
    audio_key: str | None = None
    video_key: str | None = None
    updated_at: float = 0.0
    characters: list[str] = field(default_factory=list)  # ids of the cast members the shot shows
    lines: list[dict] = field(default_factory=list)  # [{"speaker": id | "narrator", "text": ...}]; [] = all narrator
    consistency: float | None = None  # the keyframe's likeness to its characters' references (None: not scored)
    takes: int = 0  # keyframes drawn to reach that likeness


@dataclass
class CharacterRecord:
    user_id: str
    story_id: str
    character_id: str
    sequence: int
    name: str
    appearance: str
    gender: str = ""
    age: str = ""
    timbre: str = ""
    voice: str = ""  # set by a person; "" = chosen from the hints by the speech backend
    reference_key: str | None = None  # the artifact of the reference picture (portrait)
    reference_upload_id: str | None = None  # set when the reference is the user's upload, not drawn
    updated_at: float = 0.0
    portrait_take: int = 0  # raised by each request for a new portrait: its seed changes


@dataclass
class ScriptRecord:
    """A script written from an idea: its inputs, cast and outline (the episodes are rows of their own)."""

    user_id: str
    script_id: str
    title: str
    premise: str
    genre: str
    duration: str
    episode_count: int
    style: str
    language: str  # "zh" | "en"
    request: dict  # the request that wrote it, as stored with its operation
    cast_members: list[dict] = field(default_factory=list)  # castfields.CharacterFields, as dicts
    outline: list[dict] = field(default_factory=list)  # [{"episode", "title", "summary"}]
    operation_id: str = ""  # the operation that writes (or wrote) it
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass
class EpisodeRecord:
    user_id: str
    script_id: str
    episode: int
    title: str
    summary: str
    text: str  # as written so far (the partial text of an episode being written, cancelled or interrupted)
    state: str  # waiting | writing | done | edited | cancelled | failed | interrupted
    scene_prompts: list[dict] = field(default_factory=list)  # [{"scene", "heading", "prompt"}]
    updated_at: float = 0.0


@dataclass
class OperationRecord:
    operation_id: str
    kind: str
    user_id: str
    story_id: str
    request_hash: str
    request: dict
    status: str
    stage: str
    progress: float
    shots: dict[str, dict] = field(default_factory=dict)  # shot_id -> {"state": ..., "error"?: ...}
    error: dict | None = None
    result: dict | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    attempt: int = 0  # how many times a worker has taken the operation up
    cancel_requested: bool = False


@dataclass
class ArtifactRecord:
    key: str
    kind: str
    rel_path: str
    media_type: str
    backend: str
    model: str
    duration: float | None
    size_bytes: int
    meta: dict = field(default_factory=dict)
    created_at: float = 0.0

    @property
    def extension(self) -> str:
        return self.rel_path.rsplit(".", 1)[-1]


@dataclass
class UploadRecord:
    """A picture or audio file a user sent (or had imported from a URL), normalised into an artifact."""

    upload_id: str
    user_id: str
    kind: str  # "image" | "audio"
    format: str  # what the user sent: png, jpeg, webp, wav, mp3, flac, ogg, m4a
    artifact_key: str  # the normalised file the pipeline uses
    size_bytes: int  # of the file as sent
    width: int | None
    height: int | None
    duration: float | None
    source: str  # "upload", or the imported URL without its query
    filename: str
    created_at: float = 0.0


@dataclass
class StoredEvent:
    """One event of an operation's progress, as kept for its event stream."""

    event_id: int
    type: str
    data: dict
    created_at: float


@dataclass
class WorkerRecord:
    """A worker process as it registered itself, and when it last said it was alive."""

    worker_id: str
    hostname: str
    queues: list[str]
    concurrency: int
    started_at: float
    heartbeat_at: float
