"""Narration from CosyVoice on DashScope (WebSocket protocol), written as WAV s16le mono."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from app_api.dashscope.errors import BACKEND, Endpoint
from app_api.dashscope.probe import DashScopeProbe
from app_api.dashscope.tones import prosody_for
from app_api.dashscope.wav import write_speech_wav
from app_api.dashscope.ws_tts import SpeechAudio, SpeechTask, TransientSpeechFailure, speak
from story2video.errors import InvalidRequest
from story2video.media.probe import wav_duration
from story2video.providers.base import BackendStatus, SpeechRequest, SpeechResult, StageContext, VoiceHints, WordTiming
from story2video.providers.retry import RetryPolicy
from story2video.providers.voices import VoiceTable, pick_voice

VOLUME = 50  # CosyVoice's own default (0..100)
# System voices of cosyvoice-v2 (DashScope's CosyVoice voice list), by the gender and age it gives them.
# A voice belongs to its model: for another DASHSCOPE_TTS_MODEL set DASHSCOPE_CHARACTER_VOICES.
COSYVOICE_V2_VOICES: VoiceTable = {
    "female": ["longwan_v2", "longhua_v2", "longxiaochun_v2", "longxing_v2", "longyue_v2", "longyuan_v2", "longfeifei_v2"],
    "male": ["longcheng_v2", "longshu_v2", "longxiaocheng_v2", "longze_v2", "longshuo_v2", "longtian_v2", "longfei_v2"],
    "any": ["longwan_v2", "longcheng_v2"],
    "female-child": ["longling_v2", "longke_v2", "longxian_v2"],
    "male-child": ["longjielidou_v2"],
    "child": ["longjielidou_v2", "longling_v2"],
    "female-young": ["longhua_v2", "longwan_v2", "longxing_v2"],
    "male-young": ["longcheng_v2", "longshu_v2", "longze_v2"],
    "female-deep": ["longyue_v2", "longyuan_v2"],
    "male-deep": ["longxiaocheng_v2", "longtian_v2"],
    "female-bright": ["longhua_v2", "longfeifei_v2"],
    "male-bright": ["longze_v2", "longcheng_v2"],
}


@dataclass(frozen=True)
class SpeechOptions:
    voice: str  # used when the request names none
    audio_format: str  # "pcm" | "wav" | "mp3", as DashScope sends it
    sample_rate: int
    character_voices: VoiceTable = field(default_factory=lambda: COSYVOICE_V2_VOICES)
    word_timestamps: bool = True  # ask for word times (subtitles follow them)


class DashScopeSpeechSynthesizer:
    backend = BACKEND

    def __init__(
        self,
        url: str,
        api_key: str,
        endpoint: Endpoint,
        options: SpeechOptions,
        retry: RetryPolicy,
        timeout: float,
        ffmpeg: Path,
        slots: asyncio.Semaphore,
        probe: DashScopeProbe,
    ):
        self.url, self._api_key, self.endpoint, self.options = url, api_key, endpoint, options
        self.retry, self.timeout, self.ffmpeg, self._slots, self.probe = retry, timeout, ffmpeg, slots, probe
        self.model = endpoint.model

    async def synthesize(self, request: SpeechRequest, dest: Path, ctx: StageContext) -> SpeechResult:
        if not request.text.strip():
            raise InvalidRequest("the narration is empty", param="narration")
        voice = request.voice or self.options.voice
        task = SpeechTask(self.model, self._parameters(voice, request), request.text)
        async with self._slots:
            spoken = await self._speak_with_retries(task, ctx)
        await write_speech_wav(spoken.audio, self.options.audio_format, self.options.sample_rate, dest, self.ffmpeg)
        duration = await asyncio.to_thread(wav_duration, dest)
        ctx.progress(1.0)
        words = tuple(WordTiming(word.text, word.begin_ms / 1000, word.end_ms / 1000) for word in spoken.words)
        return SpeechResult(duration=duration, sample_rate=self.options.sample_rate, voice=voice, words=words)

    def voice_for(self, hints: VoiceHints, taken: Collection[str]) -> str:
        return pick_voice(self.options.character_voices, hints, [*taken, self.options.voice])

    async def status(self) -> BackendStatus:
        return await self.probe.status("narration", self.model)

    def _parameters(self, voice: str, request: SpeechRequest) -> dict:
        prosody = prosody_for(request.tone, request.speed)
        return {
            "voice": voice,
            "format": self.options.audio_format,
            "sample_rate": self.options.sample_rate,
            "volume": VOLUME,
            "rate": prosody.rate,
            "pitch": prosody.pitch,
            **({"word_timestamp_enabled": True} if self.options.word_timestamps else {}),
        }

    async def _speak_with_retries(self, task: SpeechTask, ctx: StageContext) -> SpeechAudio:
        headers = {"Authorization": f"bearer {self._api_key}", "X-DashScope-DataInspection": "enable"}
        attempts = self.retry.attempts
        for attempt in range(1, attempts + 1):
            ctx.raise_if_cancelled()
            try:
                return await speak(self.url, headers, task, self.endpoint, self.timeout, attempts)
            except TransientSpeechFailure as failure:
                if attempt == attempts:
                    raise failure.error from failure
                wait = self.retry.delay(attempt, failure.retry_after)
                logger.warning("DashScope speech failed ({}); try {}/{} in {:.2f} s", failure.error.message, attempt + 1, attempts, wait)
                await self.retry.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")
