"""Narration from a CosyVoice server (its FastAPI runtime): POST /inference_sft → raw PCM stream.

The server answers headerless mono int16 little-endian PCM at the model's rate (22050 Hz for
CosyVoice-300M, 24000 Hz for CosyVoice2/3); we wrap it in a WAV. The sft endpoint has no speed or
tone parameters, so a speed other than 1.0 is applied afterwards with FFmpeg's atempo.
"""

from __future__ import annotations

import wave
from pathlib import Path

import httpx

from story2video.config import Settings
from story2video.errors import BackendError, BackendTimeout, BackendUnavailable, InvalidArtifact
from story2video.media.ffmpeg import locate_ffmpeg, run_ffmpeg
from story2video.media.probe import wav_duration
from story2video.providers.base import BackendStatus, SpeechRequest, SpeechResult, StageContext
from story2video.providers.cancellable import cancellable

SAMPLE_WIDTH = 2  # int16


class CosyVoiceSpeechSynthesizer:
    backend = "cosyvoice"

    def __init__(self, settings: Settings):
        self.url = settings.cosyvoice_url.rstrip("/")
        self.model = "cosyvoice-sft"
        self._speaker = settings.cosyvoice_speaker
        self._rate = settings.cosyvoice_sample_rate
        self._timeout = settings.cosyvoice_timeout_s
        self._ffmpeg_setting = settings.ffmpeg_binary

    async def synthesize(self, request: SpeechRequest, dest: Path, ctx: StageContext) -> SpeechResult:
        speaker = request.voice or self._speaker
        pcm = await cancellable(self._fetch_pcm(request.text, speaker), ctx)
        if len(pcm) < SAMPLE_WIDTH * self._rate // 20:
            raise InvalidArtifact(f"the CosyVoice server at {self.url} returned no audio for this text", backend=self.backend)
        _write_wav(dest, pcm[: len(pcm) - len(pcm) % SAMPLE_WIDTH], self._rate)
        if abs(request.speed - 1.0) > 1e-3:
            await self._change_speed(dest, request.speed, ctx)
        return SpeechResult(duration=wav_duration(dest), sample_rate=self._rate, voice=speaker)

    async def _fetch_pcm(self, text: str, speaker: str) -> bytes:
        form = {"tts_text": text, "spk_id": speaker}
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                async with client.stream("POST", f"{self.url}/inference_sft", data=form) as response:
                    if response.status_code != 200:
                        body = (await response.aread()).decode("utf-8", "replace")[:300]
                        raise BackendError(
                            f"the CosyVoice server at {self.url} answered {response.status_code}: {body}",
                            backend=self.backend,
                        )
                    return b"".join([chunk async for chunk in response.aiter_bytes()])
        except httpx.TimeoutException as error:
            raise BackendTimeout(
                f"the CosyVoice server at {self.url} did not finish within {self._timeout:g} s (COSYVOICE_TIMEOUT_S)",
                backend=self.backend,
            ) from error
        except httpx.TransportError as error:
            raise BackendUnavailable(
                f"cannot reach the CosyVoice server at {self.url} (COSYVOICE_URL): {type(error).__name__}",
                backend=self.backend,
            ) from error

    async def _change_speed(self, path: Path, speed: float, ctx: StageContext) -> None:
        faster = path.with_name(path.stem + ".tempo.wav")
        args = ["-i", str(path), "-filter:a", f"atempo={speed:.4f}", "-c:a", "pcm_s16le", "-ac", "1", str(faster)]
        try:
            await run_ffmpeg(locate_ffmpeg(self._ffmpeg_setting), args, ctx=ctx, timeout=120)
            faster.replace(path)
        finally:
            faster.unlink(missing_ok=True)

    async def status(self) -> BackendStatus:
        def result(ready: bool, detail: str) -> BackendStatus:
            return BackendStatus("narration", self.backend, self.model, ready, detail, self.url)

        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.get(f"{self.url}/docs")
        except httpx.HTTPError as error:
            return result(False, f"cannot reach the CosyVoice server: {type(error).__name__}")
        if response.status_code != 200:
            return result(False, f"the CosyVoice server answered {response.status_code} on /docs")
        return result(True, f"speaker {self._speaker}, {self._rate} Hz")


def _write_wav(path: Path, pcm: bytes, rate: int) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(rate)
        wav.writeframes(pcm)
