"""Wire schemas of /api/v1 (below the engine, above everything it drives). Field names of the three seed endpoints are a compatibility contract."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from story2video.castfields import AgeGroup, Gender
from story2video.shotfields import ShotFields

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
ShortText = Annotated[str, StringConstraints(max_length=2000)]
AspectRatio = Literal["16:9", "9:16", "1:1"]
OperationStatusName = Literal["Queued", "Running", "Success", "Failed", "Cancelled"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


# ------------------------------------------------------------------ requests


class CreateStoryboardRequest(_Request):
    operation_id: Identifier
    story_id: Identifier
    user_id: Identifier
    display_name: Annotated[str, StringConstraints(max_length=200)] = ""
    script_content: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="The script (Chinese or English); its length limit is MAX_SCRIPT_CHARS"
    )
    style: Annotated[str, StringConstraints(max_length=100)] = ""
    shot_count: int | None = Field(None, ge=1, description="Exact number of shots; default: chosen from the script (whole sentences, DEFAULT_MIN_SHOTS..DEFAULT_MAX_SHOTS)")
    aspect_ratio: AspectRatio | None = Field(None, description="Keyframe aspect; default DEFAULT_ASPECT_RATIO")
    resolution: int | None = Field(None, ge=144, le=2160, description="Short side of keyframes in pixels")
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="Base seed; shot seeds derive from it")


class RegenerateShotRequest(_Request):
    operation_id: Identifier
    story_id: Identifier
    shot_id: Identifier
    user_id: Identifier
    subject: Annotated[str, StringConstraints(max_length=200)] | None = None
    detail: ShortText | None = None
    camera: Annotated[str, StringConstraints(max_length=200)] | None = None
    narration: ShortText | None = None
    tone: Annotated[str, StringConstraints(max_length=100)] | None = None
    style: Annotated[str, StringConstraints(max_length=100)] | None = None
    image_upload_id: Identifier | None = Field(
        None, description="Use this uploaded picture (POST /api/v1/uploads) as the keyframe instead of drawing one"
    )


class RenderVideoRequest(_Request):
    operation_id: Identifier
    story_id: Identifier
    user_id: Identifier
    aspect_ratio: AspectRatio | None = Field(None, description="Default: the story's keyframe aspect")
    resolution: int | None = Field(None, ge=144, le=2160, description="Short side in pixels; default DEFAULT_RESOLUTION")
    fps: int | None = Field(None, ge=1, le=60)
    subtitles: bool = True
    crossfade: float = Field(0.0, ge=0.0, le=2.0, description="Seconds of crossfade between shots (re-encodes the join)")
    music: bool = Field(False, description="Background music ducked under the narration")
    music_upload_id: Identifier | None = Field(None, description="Uploaded audio to use as the music (turns music on)")
    voice: Annotated[str, StringConstraints(max_length=100)] | None = None
    speed: float = Field(1.0, ge=0.5, le=2.0)


class UpdateCharacterRequest(_Request):
    user_id: Identifier
    name: Annotated[str, StringConstraints(min_length=1, max_length=60)] | None = None
    appearance: Annotated[str, StringConstraints(min_length=1, max_length=600)] | None = Field(
        None, description="The fixed look put word for word into every picture of the character; its shots are drawn again"
    )
    gender: Gender | None = None
    age: AgeGroup | None = None
    timbre: Annotated[str, StringConstraints(max_length=60)] | None = None
    voice: Annotated[str, StringConstraints(max_length=100)] | None = Field(
        None, description="The speech backend's voice for this character; '' = chosen from gender, age and timbre"
    )
    reference_upload_id: Identifier | None = Field(
        None, description="Use this uploaded picture (POST /api/v1/uploads) as the character's reference"
    )
    redraw_reference: bool = Field(
        False, description="Forget the current reference picture; a new portrait is drawn at the next render"
    )


class ImportUploadRequest(_Request):
    user_id: Identifier
    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="http(s) URL of a picture or audio file on a host in UPLOAD_URL_HOSTS"
    )


class Credentials(BaseModel):
    """Seed 001's register / log-in body. The password is taken exactly as sent (never trimmed)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


# ------------------------------------------------------------------ responses


class Upload(BaseModel):
    upload_id: str
    user_id: str
    kind: Literal["image", "audio"]
    format: str = Field(description="The format that was sent: png, jpeg, webp, wav, mp3, flac, ogg or m4a")
    size_bytes: int = Field(description="Size of the file as sent")
    width: int | None = Field(None, description="Pictures: width after EXIF orientation")
    height: int | None = None
    duration: float | None = Field(None, description="Audio: seconds")
    source: str = Field(description="'upload', or the URL it was imported from (without its query)")
    filename: str = ""
    url: str | None = Field(None, description="The stored, normalised file (a picture as PNG, audio as M4A)")
    created_at: float


class OperationInfo(BaseModel):
    operation_id: str
    status: OperationStatusName
    detail: str = ""


class ArtifactInfo(BaseModel):
    url: str = Field(description="The published (presigned) link when the artifact was uploaded, else local_url")
    local_url: str | None = Field(None, description="This service's own link to the artifact")
    backend: str
    model: str
    duration: float | None = None


class Line(BaseModel):
    speaker: str = Field(description="A character id of the story's cast, or 'narrator'")
    text: str


class Shot(ShotFields):
    id: str
    sequence: int
    image_url: str | None = None
    video_url: str | None = None
    style: str = ""
    seed: int = 0
    characters: list[str] = Field(default_factory=list, description="Ids of the cast members the shot shows")
    lines: list[Line] = Field(
        default_factory=list, description="The narration by speaker, in order; empty: the narrator reads all of it"
    )
    consistency: float | None = Field(
        None, description="How closely the keyframe's characters match their references (0..1); null: not scored"
    )
    takes: int = Field(0, description="Keyframes drawn to reach that score")
    consistency_flagged: bool = Field(False, description="The best take stayed below CONSISTENCY_THRESHOLD")
    artifacts: dict[str, ArtifactInfo] = Field(default_factory=dict, description="Which backend made each artifact")


class Character(BaseModel):
    character_id: str
    name: str
    appearance: str
    gender: Gender
    age: AgeGroup
    timbre: str
    voice: str = Field(description="The voice set by a person; '' = chosen by the speech backend from the hints")
    reference_url: str | None = Field(None, description="The reference picture (portrait); null until drawn or uploaded")
    reference_source: Literal["upload", "drawn"] | None = None
    shot_ids: list[str] = Field(description="The shots that show the character")


class CreateStoryboardResponse(BaseModel):
    operation: OperationInfo
    shots: list[Shot]


class RegenerateShotResponse(BaseModel):
    operation: OperationInfo
    shot: Shot


class RenderVideoResponse(BaseModel):
    operation: OperationInfo
    video_url: str | None = None
    subtitles_url: str | None = None
    duration: float | None = None


class OperationError(BaseModel):
    code: str
    message: str
    stage: str | None = None
    shot_id: str | None = None
    backend: str | None = None


class ShotProgress(BaseModel):
    state: Literal["waiting", "working", "done", "failed", "cancelled"]
    step: str | None = None
    progress: float | None = Field(None, ge=0.0, le=1.0, description="How far this shot's work in the current stage is")
    error: OperationError | None = None
    image_url: str | None = None
    video_url: str | None = None


class Operation(BaseModel):
    operation_id: str
    kind: Literal["storyboard.create", "shot.regenerate", "video.render", "stage.storyboard", "stage.frames", "stage.clips", "stage.narration"]
    status: OperationStatusName
    stage: str
    progress: float = Field(ge=0.0, le=1.0)
    story_id: str
    user_id: str
    shots: dict[str, ShotProgress]
    error: OperationError | None = None
    result: dict | None = Field(None, description="The seed-shaped response body once the operation succeeded")
    created_at: float
    updated_at: float


class Story(BaseModel):
    story_id: str
    user_id: str
    display_name: str
    style: str
    aspect_ratio: AspectRatio
    resolution: int
    script_content: str
    cast: list[Character] = Field(default_factory=list)
    shots: list[Shot]
    video_url: str | None = None
    subtitles_url: str | None = None
    artifacts: dict[str, ArtifactInfo] = Field(default_factory=dict, description="The final video and subtitles, with both links")
    created_at: float
    updated_at: float


class StorySummary(BaseModel):
    story_id: str
    display_name: str
    shot_count: int
    video_url: str | None = None
    updated_at: float


class ErrorBody(BaseModel):
    code: str
    message: str
    param: str | None = None
    stage: str | None = None
    shot_id: str | None = None
    backend: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
    operation: OperationInfo | None = None


class BackendReadiness(BaseModel):
    stage: str
    backend: str
    model: str
    ready: bool
    detail: str = ""
    location: str = ""


class LiveWorker(BaseModel):
    worker_id: str
    hostname: str
    queues: list[str]
    concurrency: int
    seen_s_ago: float = Field(description="Seconds since its last heartbeat")


class QueueState(BaseModel):
    running: int = Field(description="Operations being worked on (with workers: operations holding a live lease)")
    waiting: int = Field(description="Operations waiting (with workers: tasks waiting in the broker's queues)")
    max_queued: int
    broker_queues: dict[str, int] | None = Field(None, description="SERVICE_ROLE=api: tasks waiting in each Celery queue")
    workers: list[LiveWorker] | None = Field(None, description="SERVICE_ROLE=api: workers with a recent heartbeat")


class Readiness(BaseModel):
    ready: bool = Field(description="Every backend can take work (and, with workers, at least one worker is live)")
    role: Literal["all", "api"]
    mode: Literal["cloud", "local"]
    backends: list[BackendReadiness]
    ffmpeg: str
    queue: QueueState


class AccountsConfig(BaseModel):
    accounts_enabled: bool


class Registered(BaseModel):
    id: int = Field(description="The account's number (seed 001's id)")
    username: str
    user_id: str = Field(description="The user_id the account's stories and operations are kept under")


class Account(Registered):
    pass


class TokenGrant(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Seconds the access token stays valid")
    user_id: str
    username: str
