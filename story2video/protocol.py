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


CallbackUrl = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
CALLBACK_URL = Field(
    None,
    description="Optional: POSTed the operation (HMAC-SHA256 signed) when it ends; its host must be in WEBHOOK_URL_HOSTS. "
    "Without it, the user's registered webhook (if any) is called",
)


# ------------------------------------------------------------------ requests


class CreateStoryboardRequest(_Request):
    operation_id: Identifier
    story_id: Identifier
    user_id: Identifier
    display_name: Annotated[str, StringConstraints(max_length=200)] = ""
    script_content: Annotated[str, StringConstraints(min_length=1)] | None = Field(
        None, description="The script (Chinese or English); its length limit is MAX_SCRIPT_CHARS. Give it, or script_id + episode"
    )
    script_id: Identifier | None = Field(
        None, description="Instead of script_content: a script written with POST /api/v1/scripts; the story takes its cast"
    )
    episode: int | None = Field(None, ge=1, description="With script_id: the episode to film (default 1)")
    style: Annotated[str, StringConstraints(max_length=100)] = ""
    shot_count: int | None = Field(None, ge=1, description="Exact number of shots; default: chosen from the script (whole sentences, DEFAULT_MIN_SHOTS..DEFAULT_MAX_SHOTS)")
    aspect_ratio: AspectRatio | None = Field(None, description="Keyframe aspect; default DEFAULT_ASPECT_RATIO")
    resolution: int | None = Field(None, ge=144, le=2160, description="Short side of keyframes in pixels")
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="Base seed; shot seeds derive from it")
    callback_url: CallbackUrl | None = CALLBACK_URL


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
    callback_url: CallbackUrl | None = CALLBACK_URL


class RenderVideoRequest(_Request):
    operation_id: Identifier
    story_id: Identifier
    user_id: Identifier
    aspect_ratio: AspectRatio | None = Field(None, description="Default: the story's keyframe aspect")
    resolution: int | None = Field(None, ge=144, le=2160, description="Short side in pixels; default DEFAULT_RESOLUTION")
    fps: int | None = Field(None, ge=1, le=60)
    subtitles: bool = True
    crossfade: float = Field(0.0, ge=0.0, le=2.0, description="Seconds of crossfade between shots (only the dissolving frames are re-encoded)")
    music: bool = Field(False, description="Background music ducked under the narration")
    music_upload_id: Identifier | None = Field(None, description="Uploaded audio to use as the music (turns music on)")
    voice: Annotated[str, StringConstraints(max_length=100)] | None = None
    speed: float = Field(1.0, ge=0.5, le=2.0)
    callback_url: CallbackUrl | None = CALLBACK_URL


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


class CharacterSpec(_Request):
    """A character asked for, structured (the free-text form is "张明,男,28")."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    gender: Gender | None = None
    age: int | AgeGroup | None = Field(None, description="Years (28) or an age group (child, young, adult, old)")
    appearance: Annotated[str, StringConstraints(max_length=600)] = ""
    notes: Annotated[str, StringConstraints(max_length=300)] = ""


class WriteScriptRequest(_Request):
    operation_id: Identifier
    user_id: Identifier
    script_id: Identifier
    premise: Annotated[str, StringConstraints(min_length=1)] | None = Field(
        None, description="The idea: a topic or a premise in a few sentences (or give it as topic); limit MAX_PREMISE_CHARS"
    )
    topic: Annotated[str, StringConstraints(min_length=1)] | None = Field(None, description="Same as premise (seed 001's name)")
    title: Annotated[str, StringConstraints(max_length=120)] = ""
    genre: Annotated[str, StringConstraints(max_length=100)] = Field("", description="e.g. 都市职场, mystery")
    duration: Annotated[str, StringConstraints(max_length=40)] = Field("", description="Length of one episode, e.g. 3分钟, 90 seconds")
    episodes: int = Field(1, ge=1, description="How many episodes (at most MAX_SCRIPT_EPISODES)")
    characters: list[Annotated[str, StringConstraints(min_length=1, max_length=300)] | CharacterSpec] | Annotated[
        str, StringConstraints(max_length=3000)
    ] = Field(
        default_factory=list,
        description='Characters asked for: free text per character as in seed 000 ("张明,男,28"), structured, or one text with one per line',
    )
    style: Annotated[str, StringConstraints(max_length=100)] = ""
    language: Literal["auto", "zh", "en"] = Field("auto", description="auto = Chinese when the inputs contain Chinese, else English")
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="The same seed and inputs write the same preview script")


class ScenePromptsRequest(_Request):
    operation_id: Identifier
    user_id: Identifier
    episode: int | None = Field(None, ge=1, description="Only this episode; default: every written episode")


class UpdateEpisodeRequest(_Request):
    user_id: Identifier
    text: Annotated[str, StringConstraints(min_length=1)] = Field(description="The episode scene by scene; limit MAX_SCRIPT_CHARS")
    title: Annotated[str, StringConstraints(min_length=1, max_length=120)] | None = None


class GenerateScriptRequest(BaseModel):
    """Seed 000's POST /api/stream/generate-script (lenient, as its clients are); premise, style and language are ours."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    genre: str = Field("", max_length=100)
    duration: str = Field("", max_length=40)
    episodes: int = Field(1, ge=1)
    characters: list[str | CharacterSpec] | str = Field(default_factory=list)
    premise: str | None = Field(None, max_length=4000, description="The idea; default: a story of the genre")
    style: str = Field("", max_length=100)
    language: str = Field("auto", pattern="^(auto|zh|en)$")


class ExtractScenePromptsRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    task_id: str | None = None
    episode: int | None = Field(None, ge=1)


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
    kind: Literal[
        "storyboard.create", "shot.regenerate", "video.render", "script.write", "script.scene_prompts",
        "stage.storyboard", "stage.frames", "stage.clips", "stage.narration",
    ]
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


class WebhookRegistrationRequest(_Request):
    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="http(s) URL on a host in WEBHOOK_URL_HOSTS, called when any of the user's operations ends"
    )
    secret: Annotated[str, StringConstraints(min_length=16, max_length=200)] | None = Field(
        None, description="The HMAC-SHA256 key of the signatures; omitted: one is generated and returned once"
    )


class WebhookRegistrationInfo(BaseModel):
    user_id: str
    url: str
    secret: str | None = Field(None, description="Only in the answer to PUT: keep it to check the signatures")
    created_at: float
    updated_at: float


class CallbackAttempt(BaseModel):
    attempt: int
    started_at: float
    duration_s: float
    status_code: int | None = Field(None, description="The receiver's HTTP status; null when it was not reached")
    error: str | None = None


class CallbackDelivery(BaseModel):
    delivery_id: int
    event: Literal["operation.completed", "operation.failed", "operation.cancelled"]
    url: str
    target: Literal["request", "user"] = Field(description="The request's callback_url, or the user's registered webhook")
    status: Literal["pending", "delivered", "failed"]
    attempts: list[CallbackAttempt]
    next_attempt_at: float | None = Field(None, description="While pending: when the next attempt is due")
    deadline_at: float = Field(description="No attempt is made after this (WEBHOOK_RETRY_WINDOW_S after the end)")
    created_at: float


class StoryFileInfo(BaseModel):
    name: str = Field(description="Its path inside the story's zip; give it as `name` to download it alone")
    kind: Literal["storyboard", "video", "subtitles", "reference", "keyframe", "narration", "clip", "segment"]
    shot_id: str | None = Field(None, description="The shot it belongs to (keyframe, narration, clip, segment)")
    size_bytes: int
    media_type: str
    url: str | None = Field(None, description="The artifact's own link; null for the storyboard (made for the download)")


class StorySummary(BaseModel):
    story_id: str
    display_name: str
    shot_count: int
    video_url: str | None = None
    updated_at: float


class ScriptCharacter(BaseModel):
    """A character of a script: the same fields a story's cast starts from."""

    id: str
    name: str
    appearance: str
    gender: Gender
    age: AgeGroup
    timbre: str


class EpisodePlanView(BaseModel):
    episode: int
    title: str
    summary: str


class ScenePrompt(BaseModel):
    scene: int
    heading: str = Field(description="The scene's place and time, from its heading line")
    prompt: str


class ScriptEpisode(BaseModel):
    episode: int
    title: str
    summary: str
    state: Literal["waiting", "writing", "done", "edited", "cancelled", "failed", "interrupted"]
    text: str = Field(description="Scene by scene; partial while writing, or when cancelled or interrupted")
    scenes: int = Field(description="Scene headings found in the text")
    scene_prompts: list[ScenePrompt] = Field(default_factory=list)


class Script(BaseModel):
    script_id: str
    user_id: str
    title: str
    premise: str
    genre: str
    duration: str
    style: str
    language: Literal["zh", "en"]
    status: Literal["writing", "done", "cancelled", "failed", "interrupted"]
    operation_id: str = Field(description="The operation that writes (or wrote) it; its events stream the text")
    cast: list[ScriptCharacter]
    outline: list[EpisodePlanView]
    episodes: list[ScriptEpisode]
    created_at: float
    updated_at: float


class ScriptSummary(BaseModel):
    script_id: str
    title: str
    status: str
    episodes: int
    written: int = Field(description="Episodes whose text is whole (done or edited)")
    updated_at: float


class WriteScriptResponse(BaseModel):
    operation: OperationInfo
    script: Script


class ScenePromptsResponse(BaseModel):
    operation: OperationInfo
    script_id: str
    scene_prompts: list[dict]


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
