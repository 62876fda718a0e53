"""Narration from CosyVoice on DashScope (WebSocket protocol), written as WAV s16le mono."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from app_api.dashscope.errors import BACKEND, Endpoint
from app_api.dashscope.probe import DashScopeProbe
from app_api.dashscope.tones import prosody_for
from app_api.dashscope.wav import write_speech_wav
from app_api.dashscope.ws_tts import SpeechTask, TransientSpeechFailure, speak
from story2video.errors import InvalidRequest
from story2video.media.probe import wav_duration
from story2video.providers.base import BackendStatus, SpeechRequest, SpeechResult, StageContext
from story2video.providers.retry import RetryPolicy

VOLUME = 50  # CosyVoice's own default (0..100)


@dataclass(frozen=True)
class SpeechOptions:
    voice: str  # used when the request names none
    audio_format: str  # "pcm" | "wav" | "mp3", as DashScope sends it
    sample_rate: int


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
            audio = await self._speak_with_retries(task, ctx)
        await write_speech_wav(audio, self.options.audio_format, self.options.sample_rate, dest, self.ffmpeg)
        duration = await asyncio.to_thread(wav_duration, dest)
        ctx.progress(1.0)
        return SpeechResult(duration=duration, sample_rate=self.options.sample_rate, voice=voice)

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
        }

    async def _speak_with_retries(self, task: SpeechTask, ctx: StageContext) -> bytes:
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
