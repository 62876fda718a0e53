"""A shot's narration, line by line: each line in its speaker's voice, joined into the shot's one WAV.

The narrator's lines use the render's voice (empty: the backend's default); a character's lines use the
voice a person set on it, else the one the speech backend chooses from its hints (gender, age, timbre),
distinct from the narrator's and from earlier characters' while the backend has enough. The artifact is
keyed by every line's speaker, voice and text, so a changed voice redoes only the shots it speaks in.
Its meta records each line's speaker, voice, start and end, and the words' times when the backend
reported them (``timing``: "words", else "proportional").
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from loguru import logger

from story2video.errors import MediaError
from story2video.media.probe import wav_duration
from story2video.media.wav import read_mono_wav, silence, write_mono_wav
from story2video.pipeline.cache import artifact_key
from story2video.pipeline.deps import PipelineDeps
from story2video.pipeline.failures import stage_errors, within_timeout
from story2video.pipeline.validate import validate_wav
from story2video.providers.base import NARRATOR, SpeechRequest, SpeechResult, SpeechSynthesizer, StageContext, VoiceHints
from story2video.storage.artifacts import Produced
from story2video.storage.records import ArtifactRecord, CharacterRecord, ShotRecord

PAUSE_BETWEEN_LINES = 0.3  # seconds of silence where the speaker changes or a line ends


@dataclass(frozen=True)
class SpokenLine:
    speaker: str  # a character id, or NARRATOR
    request: SpeechRequest


def cast_voices(tts: SpeechSynthesizer, cast: list[CharacterRecord], narrator_voice: str) -> dict[str, str]:
    """Each character's voice: its own when a person set one, else the backend's choice, in cast order,
    avoiding the narrator's voice and every voice already given."""
    taken = [narrator_voice, *(c.voice.strip() for c in cast if c.voice.strip())]
    voices: dict[str, str] = {}
    for character in cast:
        voice = character.voice.strip()
        if not voice:
            voice = tts.voice_for(VoiceHints(character.gender, character.age, character.timbre), taken)
            taken.append(voice)
        voices[character.character_id] = voice
    return voices


def spoken_lines(shot: ShotRecord, voices: dict[str, str], narrator_voice: str, speed: float) -> list[SpokenLine]:
    """The shot's lines that say something (a line of quote marks alone is skipped), with their requests."""
    lines = shot.lines or [{"speaker": NARRATOR, "text": shot.narration}]
    spoken = []
    for line in lines:
        text = line["text"].strip()
        if not any(char.isalnum() for char in text):
            continue
        speaker = line["speaker"]
        if speaker != NARRATOR and speaker not in voices:
            logger.warning("shot {}: speaker '{}' is no longer in the cast; the narrator reads the line", shot.shot_id, speaker)
            speaker = NARRATOR
        voice = narrator_voice if speaker == NARRATOR else voices[speaker]
        spoken.append(SpokenLine(speaker, SpeechRequest(text=text, voice=voice, speed=speed, tone=shot.tone)))
    if not spoken:
        spoken.append(SpokenLine(NARRATOR, SpeechRequest(text=shot.narration, voice=narrator_voice, speed=speed, tone=shot.tone)))
    return spoken


async def ensure_narration(
    deps: PipelineDeps, shot: ShotRecord, voices: dict[str, str], narrator_voice: str, speed: float, ctx: StageContext
) -> ArtifactRecord:
    tts = deps.providers.speech
    lines = spoken_lines(shot, voices, narrator_voice, speed)
    key = artifact_key(
        "narration",
        backend=tts.backend,
        model=tts.model,
        lines=[{"speaker": line.speaker, **asdict(line.request)} for line in lines],
        pause=PAUSE_BETWEEN_LINES if len(lines) > 1 else 0.0,
    )
    line_ctx = deps.for_artifact(ctx, key)

    async def speak(index: int, line: SpokenLine, dest: Path) -> SpeechResult:
        share = replace(line_ctx, progress=lambda done: ctx.progress((index + done) / len(lines)))
        result = await within_timeout(tts.synthesize(line.request, dest, share), deps.settings.narration_timeout_s, "narration", tts.backend)
        await validate_wav(dest)
        return result

    async def produce(dest: Path) -> Produced:
        parts = [dest.with_name(f"{dest.stem}.line{index}.wav") for index in range(len(lines))]
        try:
            with stage_errors("narration", tts.backend, shot.shot_id):
                results = [await speak(index, line, part) for index, (line, part) in enumerate(zip(lines, parts))]
            meta_lines = await asyncio.to_thread(_join, parts, results, lines, dest)
        finally:
            for part in parts:
                part.unlink(missing_ok=True)
        measured = await asyncio.to_thread(wav_duration, dest)
        timing = "words" if all(line["words"] for line in meta_lines) else "proportional"
        meta = {"voice": results[0].voice, "text": shot.narration, "timing": timing, "lines": meta_lines}
        return Produced(tts.backend, tts.model, duration=measured, meta=meta)

    with stage_errors("narration", tts.backend, shot.shot_id):
        return await deps.store.ensure(key, "narration", "wav", produce, validate_wav)


def _join(parts: list[Path], results: list[SpeechResult], lines: list[SpokenLine], dest: Path) -> list[dict]:
    """The lines' audio one after another with a short pause between, and where each line lies in it."""
    pcm, rate, meta = bytearray(), 0, []
    for index, (part, result, line) in enumerate(zip(parts, results, lines)):
        samples, part_rate = read_mono_wav(part)
        if rate and part_rate != rate:
            raise MediaError(f"the speech backend wrote lines at {rate} Hz and {part_rate} Hz; one shot's lines must share a rate")
        rate = part_rate
        if index:
            pcm += silence(PAUSE_BETWEEN_LINES, rate)
        start = len(pcm) / 2 / rate
        pcm += samples
        end = len(pcm) / 2 / rate
        words = [[word.text, round(start + word.start, 3), round(start + min(word.end, end - start), 3)] for word in result.words]
        meta.append({"speaker": line.speaker, "voice": result.voice, "text": line.request.text, "start": round(start, 3), "end": round(end, 3), "words": words})
    write_mono_wav(dest, bytes(pcm), rate)
    return meta
