"""One narrow, async interface per capability, plus the small value types they exchange.

Providers know nothing about HTTP, storage or operations. They receive a typed request, a
``StageContext`` (progress callback + cancel check) and, where they make a file, the path to
write it to. The pipeline validates what they wrote before it becomes an artifact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection, Protocol, Sequence, runtime_checkable

from story2video.castfields import NARRATOR
from story2video.media.cliptypes import CAMERA_MOVES, CameraMove, Clip, ClipFile, ClipFit, ClipReference, ClipRequest, StillMotion
from story2video.stagecontext import CancelCheck, ProgressCallback, StageContext

__all__ = [
    "CAMERA_MOVES", "NARRATOR", "CameraMove", "CancelCheck", "Clip", "ClipFile", "ClipFit", "ClipReference", "ClipRequest",
    "ProgressCallback",
    "StageContext", "StillMotion",
]  # re-exported: the types every provider exchanges, defined below the providers

@dataclass(frozen=True)
class BackendStatus:
    """What ``/ready`` shows for one stage's backend."""

    stage: str
    backend: str
    model: str
    ready: bool
    detail: str = ""
    location: str = ""  # host/URL/device it runs on, when there is one


# ---------------------------------------------------------------- storyboard


@dataclass(frozen=True)
class StoryboardRequest:
    script: str
    style: str
    min_shots: int = 1
    max_shots: int = 60
    shot_count: int | None = None  # exact count when the caller asked for one
    cast: tuple["CharacterDraft", ...] = ()  # a cast fixed beforehand (a script's): used as it is


@dataclass(frozen=True)
class Line:
    speaker: str  # a character id, or NARRATOR
    text: str


@dataclass(frozen=True)
class CharacterDraft:
    id: str
    name: str
    appearance: str  # fixed description: age, build, face, hair, clothes
    gender: str = ""  # voice hints: "female" | "male" | ""
    age: str = ""  # "child" | "young" | "adult" | "old" | ""
    timbre: str = ""  # free words: "warm", "husky", "bright", ...


@dataclass(frozen=True)
class ShotDraft:
    subject: str
    detail: str
    camera: str
    narration: str
    tone: str
    characters: tuple[str, ...] = ()  # ids of the characters the shot shows
    lines: tuple[Line, ...] = ()  # the narration by speaker; empty means the narrator says all of it


@dataclass(frozen=True)
class Storyboard:
    shots: list[ShotDraft]
    cast: list[CharacterDraft] = field(default_factory=list)


@runtime_checkable
class StoryboardWriter(Protocol):
    backend: str
    model: str

    async def write(self, request: StoryboardRequest, ctx: StageContext) -> Storyboard: ...

    async def status(self) -> BackendStatus: ...


# ---------------------------------------------------------------- scripts (from an idea)


@dataclass(frozen=True)
class CharacterHint:
    """A character the person asked for: "张明,男,28" read into parts (what was not said stays empty)."""

    name: str
    gender: str = ""  # "female" | "male" | ""
    age: str = ""  # "child" | "young" | "adult" | "old" | ""
    years: int | None = None
    notes: str = ""  # the rest of what was said about them


@dataclass(frozen=True)
class ScriptRequest:
    premise: str
    genre: str
    duration: str  # of one episode, as the person said it ("3分钟", "90 seconds")
    episodes: int
    characters: tuple[CharacterHint, ...]
    style: str
    language: str  # "zh" | "en"
    seed: int
    title: str = ""


@dataclass(frozen=True)
class EpisodePlan:
    number: int  # 1-based
    title: str
    summary: str


@dataclass(frozen=True)
class ScenePromptRequest:
    episode: int
    text: str  # the episode, scene by scene (story2video.scriptformat)
    cast: tuple[CharacterDraft, ...]
    style: str
    language: str


class TextOut(Protocol):
    """Where a script writer puts the text as the model produces it."""

    def write(self, text: str) -> None: ...

    def restart(self) -> None:
        """The text so far is dropped: a re-ask starts the part anew."""
        ...


@runtime_checkable
class ScriptWriter(Protocol):
    """Writes a script in stages, streaming each stage's text to ``out`` while it is written."""

    backend: str
    model: str

    async def write_cast(self, request: ScriptRequest, out: TextOut, ctx: StageContext) -> list[CharacterDraft]: ...

    async def write_outline(
        self, request: ScriptRequest, cast: list[CharacterDraft], out: TextOut, ctx: StageContext
    ) -> list[EpisodePlan]: ...

    async def write_episode(
        self, request: ScriptRequest, cast: list[CharacterDraft], outline: list[EpisodePlan], number: int, out: TextOut, ctx: StageContext
    ) -> str:
        """Episode ``number`` scene by scene, in the layout of story2video.scriptformat."""
        ...

    async def write_scene_prompts(self, request: ScenePromptRequest, out: TextOut, ctx: StageContext) -> list[str]:
        """One picture description per scene of ``request.text``, in order."""
        ...

    async def status(self) -> BackendStatus: ...


# ---------------------------------------------------------------- keyframes


@dataclass(frozen=True)
class CharacterLook:
    """A character present in a shot, as every picture prompt must describe it."""

    name: str
    appearance: str  # fixed description: age, build, face, hair, clothes


@dataclass(frozen=True)
class ImageRequest:
    prompt: str  # the shot's detail: what the picture shows
    subject: str
    narration: str
    style: str
    width: int
    height: int
    seed: int
    shot_index: int = 0  # 0-based position in the story
    negative_prompt: str = ""
    subtitled: bool = False  # burned-in subtitles will show the narration: text drawn in the picture must not
    # repeat it, and must stay clear of the subtitles' band
    characters: tuple[CharacterLook, ...] = ()  # who is in the shot, described the same in every shot
    references: tuple[Path, ...] = ()  # the characters' reference pictures (PNG), in the order of ``characters``;
    # a backend that can condition on pictures uses them, any other draws from the text alone
    portrait: bool = False  # a reference portrait of ``characters[0]``, not a shot of the story


@dataclass(frozen=True)
class ImageResult:
    """What an image backend may report besides the PNG (recorded in the keyframe's meta)."""

    actual_prompt: str = ""  # the prompt the model really drew from (e.g. after the service rewrote it)


@runtime_checkable
class ImageGenerator(Protocol):
    backend: str
    model: str

    async def generate(self, request: ImageRequest, dest: Path, ctx: StageContext) -> ImageResult | None:
        """Write one PNG of exactly ``request.width`` x ``request.height`` to ``dest``."""
        ...

    async def status(self) -> BackendStatus: ...


# ---------------------------------------------------------------- drift check


@runtime_checkable
class ConsistencyScorer(Protocol):
    """How much a keyframe looks like its characters' reference pictures."""

    backend: str
    model: str

    async def score(self, picture: Path, references: Sequence[Path], ctx: StageContext) -> float:
        """0..1 (1: alike); with several references, the likeness of the least alike one."""
        ...


# ---------------------------------------------------------------- clips


@runtime_checkable
class VideoGenerator(Protocol):
    backend: str
    model: str

    async def animate(self, request: ClipRequest, dest: Path, ctx: StageContext) -> Clip:
        """Either write an MP4 to ``dest`` and return ``ClipFile`` or return a ``StillMotion``."""
        ...

    async def status(self) -> BackendStatus: ...


# ---------------------------------------------------------------- speech


@dataclass(frozen=True)
class SpeechRequest:
    text: str
    voice: str = ""  # backend-specific; "" means the backend's default for the text's language
    speed: float = 1.0
    tone: str = ""


@dataclass(frozen=True)
class WordTiming:
    """When one word of the request's text is heard, in seconds from the start of the audio written."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class SpeechResult:
    duration: float  # seconds, measured from the audio written
    sample_rate: int
    voice: str
    words: tuple[WordTiming, ...] = ()  # in spoken order; empty when the backend reports no timing


@dataclass(frozen=True)
class VoiceHints:
    """What a backend chooses a character's voice from (see ``SpeechSynthesizer.voice_for``)."""

    gender: str = ""  # "female" | "male" | ""
    age: str = ""  # "child" | "young" | "adult" | "old" | ""
    timbre: str = ""  # free words


@runtime_checkable
class SpeechSynthesizer(Protocol):
    backend: str
    model: str

    async def synthesize(self, request: SpeechRequest, dest: Path, ctx: StageContext) -> SpeechResult:
        """Write a WAV (PCM s16le, mono) to ``dest``."""
        ...

    def voice_for(self, hints: VoiceHints, taken: Collection[str]) -> str:
        """A voice of this backend that fits ``hints``, other than those ``taken`` (the narrator's and
        the voices given to earlier characters) while the backend has one left. Deterministic."""
        ...

    async def status(self) -> BackendStatus: ...


# ---------------------------------------------------------------- prompt refinement (optional)


@runtime_checkable
class PromptRefiner(Protocol):
    """Turns a shot's detail (in any language) into a prompt the image model draws well."""

    backend: str
    model: str

    async def refine(self, detail: str, style: str, ctx: StageContext) -> str: ...

    async def status(self) -> BackendStatus: ...


@dataclass
class Providers:
    """The four stage backends a running service uses, and the optional prompt refiner."""

    storyboard: StoryboardWriter
    image: ImageGenerator
    video: VideoGenerator
    speech: SpeechSynthesizer
    refiner: PromptRefiner | None = None
    scorer: ConsistencyScorer | None = None  # the drift check of keyframes with characters; None: not scored
    script: ScriptWriter | None = None  # writes scripts from an idea (POST /api/v1/scripts)
    extras: dict[str, object] = field(default_factory=dict)

    def by_stage(self) -> dict[str, object]:
        stages = {"storyboard": self.storyboard, "keyframes": self.image, "clips": self.video, "narration": self.speech}
        if self.refiner is not None:
            stages["prompts"] = self.refiner
        if self.script is not None:
            stages["script"] = self.script
        return stages
