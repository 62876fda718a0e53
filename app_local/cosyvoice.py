"""Narration from a CosyVoice server: its FastAPI runtime, or an OpenAI-style wrapper around it.

FastAPI runtime (COSYVOICE_API=fastapi). One of three endpoints is chosen per shot:

- ``/inference_instruct2`` (``tts_text``, ``instruct_text``, ``prompt_wav`` file) when
  COSYVOICE_INSTRUCT is on, COSYVOICE_PROMPT_WAV is set and the shot has a tone: the tone becomes
  the instruction, ended with ``<|endofprompt|>`` (CosyVoice 3 asserts on it; CosyVoice 2 otherwise
  may speak the instruction);
- ``/inference_zero_shot`` (``tts_text``, ``prompt_text``, ``prompt_wav`` file) when
  COSYVOICE_PROMPT_WAV and COSYVOICE_PROMPT_TEXT are set (voice cloning from the clip);
- ``/inference_sft`` (``tts_text``, ``spk_id``) otherwise.

The server answers headerless mono int16 little-endian PCM at the model's rate (22050 Hz for
CosyVoice-300M, 24000 Hz for CosyVoice2/3); we wrap it in a WAV. It streams: the 200 and its headers
go out before the model runs, so a failure inside the model (a speaker the model lacks, a prompt
clip it cannot read) shows as a body that breaks off, never as a 500. These endpoints have no speed
parameter, so a speed other than 1.0 is applied afterwards with FFmpeg's atempo.

A request that names a voice (a character's, or the render's) is spoken in it: a voice of
COSYVOICE_VOICE_PROMPTS zero-shot from its clip and transcript, any other as an SFT ``spk_id``.
Characters without a voice of their own get one from COSYVOICE_CHARACTER_VOICES (default: the SFT
speakers of CosyVoice-300M-SFT by gender), a different one per character while the table has enough.

OpenAI-style wrapper (COSYVOICE_API=openai): ``POST /v1/audio/speech`` with JSON ``{model, input,
voice, response_format: "wav", speed}``; the reply is a WAV file, stored as mono 16-bit at its own
rate. The speed is passed through.
"""

from __future__ import annotations

import array
import hashlib
import io
import json
import re
import sys
import wave
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import httpx

from story2video.config import Settings
from story2video.errors import BackendError, BackendTimeout, BackendUnavailable, ConfigurationError, InvalidArtifact, describe_exception
from story2video.media.ffmpeg import locate_ffmpeg, run_ffmpeg
from story2video.media.probe import wav_duration
from story2video.media.wav import SAMPLE_WIDTH, write_mono_wav
from story2video.providers.base import BackendStatus, SpeechRequest, SpeechResult, StageContext, VoiceHints
from story2video.providers.cancellable import cancellable
from story2video.providers.voices import VoiceTable, pick_voice, table_problem

END_OF_PROMPT = "<|endofprompt|>"
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# The spk_ids CosyVoice-300M-SFT ships, by the gender of the speaker.
SFT_SPEAKERS: VoiceTable = {
    "female": ["中文女", "英文女", "粤语女", "韩语女"],
    "male": ["中文男", "英文男", "日语男"],
    "any": ["中文女", "中文男"],
}


@dataclass(frozen=True)
class VoicePrompt:
    """A named voice spoken zero-shot: a reference clip and its transcript."""

    wav: Path
    text: str


@dataclass(frozen=True)
class InferenceCall:
    """One FastAPI request: the endpoint, its form fields, and the prompt clip when one is sent."""

    endpoint: str  # "/inference_sft", "/inference_zero_shot" or "/inference_instruct2"
    form: dict[str, str]
    prompt_wav: Path | None = None
    voice: str = ""  # what SpeechResult.voice reports


def instruction_for(tone: str, text: str, end_of_prompt: bool = True) -> str:
    """The instruct_text for a shot's tone, in the narration's language, ended with ``<|endofprompt|>``."""
    tone = tone.strip()
    instruction = f"用{tone}的语气说这句话" if _CJK.search(text) else f"Speak in a {tone} tone."
    return f"{instruction}{END_OF_PROMPT}" if end_of_prompt else instruction


def sft_call(text: str, speaker: str) -> InferenceCall:
    return InferenceCall("/inference_sft", {"tts_text": text, "spk_id": speaker}, voice=speaker)


def zero_shot_call(text: str, prompt_text: str, prompt_wav: Path) -> InferenceCall:
    form = {"tts_text": text, "prompt_text": prompt_text}
    return InferenceCall("/inference_zero_shot", form, prompt_wav, voice=f"prompt:{prompt_wav.name}")


def instruct_call(text: str, tone: str, prompt_wav: Path, end_of_prompt: bool = True) -> InferenceCall:
    form = {"tts_text": text, "instruct_text": instruction_for(tone, text, end_of_prompt)}
    return InferenceCall("/inference_instruct2", form, prompt_wav, voice=f"prompt:{prompt_wav.name}")


def choose_call(
    request: SpeechRequest,
    *,
    speaker: str,
    prompt_wav: Path | None,
    prompt_text: str,
    instruct: bool,
    voice_prompts: dict[str, VoicePrompt] | None = None,
    end_of_prompt: bool = True,
) -> InferenceCall:
    """Which endpoint speaks this request, with which fields."""
    named = (voice_prompts or {}).get(request.voice)
    if named is not None:
        call = zero_shot_call(request.text, named.text, named.wav)
        return InferenceCall(call.endpoint, call.form, call.prompt_wav, voice=request.voice)
    if request.voice and request.voice != speaker:
        return sft_call(request.text, request.voice)
    if instruct and prompt_wav is not None and request.tone.strip():
        return instruct_call(request.text, request.tone, prompt_wav, end_of_prompt)
    if prompt_wav is not None and prompt_text.strip():
        return zero_shot_call(request.text, prompt_text, prompt_wav)
    return sft_call(request.text, request.voice or speaker)


def openai_body(request: SpeechRequest, *, model: str, speaker: str) -> dict:
    return {
        "model": model,
        "input": request.text,
        "voice": request.voice or speaker,
        "response_format": "wav",
        "speed": request.speed,
    }


class CosyVoiceSpeechSynthesizer:
    backend = "cosyvoice"

    def __init__(self, settings: Settings):
        self.url = settings.cosyvoice_url.rstrip("/")
        self._api = settings.cosyvoice_api
        self._speaker = settings.cosyvoice_speaker
        self._rate = settings.cosyvoice_sample_rate
        self._timeout = settings.cosyvoice_timeout_s
        self._ffmpeg_setting = settings.ffmpeg_binary
        self._prompt_text = settings.cosyvoice_prompt_text
        self._instruct = settings.cosyvoice_instruct
        self._end_of_prompt = settings.cosyvoice_end_of_prompt
        self._openai_model = settings.cosyvoice_openai_model
        self._prompt_wav: Path | None = None
        self._voice_prompts = _voice_prompts(settings.cosyvoice_voice_prompts)
        problem = table_problem(settings.cosyvoice_character_voices) if settings.cosyvoice_character_voices else None
        if problem:
            raise ConfigurationError(f"COSYVOICE_CHARACTER_VOICES: {problem}")
        self._character_voices = settings.cosyvoice_character_voices or SFT_SPEAKERS
        if settings.cosyvoice_prompt_wav is not None and self._api == "fastapi":
            prompt = Path(settings.cosyvoice_prompt_wav).expanduser()
            if not prompt.is_file():
                raise ConfigurationError(f"COSYVOICE_PROMPT_WAV: '{prompt}' is not a file")
            self._prompt_wav = prompt
        self.model = self._model_name()

    def _model_name(self) -> str:
        """Names the mode, so the artifact cache key changes with it (and with the prompt clips)."""
        if self._api == "openai":
            return f"cosyvoice-openai:{self._openai_model}"
        voices = ""
        if self._voice_prompts:
            clips = hashlib.sha256()
            for name, prompt in sorted(self._voice_prompts.items()):
                clips.update(name.encode() + b"\0" + prompt.text.encode() + b"\0" + prompt.wav.read_bytes())
            voices = f"+voices:{clips.hexdigest()[:10]}"
        if self._prompt_wav is None:
            return "cosyvoice-sft" + voices
        digest = hashlib.sha256(self._prompt_wav.read_bytes()).hexdigest()[:10]
        digest += hashlib.sha256(self._prompt_text.encode()).hexdigest()[:6]
        mode = "instruct2" if self._instruct else "zero-shot" if self._prompt_text.strip() else "sft"
        return f"cosyvoice-{mode}:{digest}{voices}"

    def voice_for(self, hints: VoiceHints, taken: Collection[str]) -> str:
        """A voice of COSYVOICE_CHARACTER_VOICES, never COSYVOICE_SPEAKER (the narrator's by default)."""
        return pick_voice(self._character_voices, hints, [*taken, self._speaker])

    async def synthesize(self, request: SpeechRequest, dest: Path, ctx: StageContext) -> SpeechResult:
        if self._api == "openai":
            return await self._synthesize_openai(request, dest, ctx)
        call = choose_call(
            request,
            speaker=self._speaker,
            prompt_wav=self._prompt_wav,
            prompt_text=self._prompt_text,
            instruct=self._instruct,
            voice_prompts=self._voice_prompts,
            end_of_prompt=self._end_of_prompt,
        )
        pcm = await cancellable(self._fetch_pcm(call), ctx)
        if len(pcm) < SAMPLE_WIDTH * self._rate // 20:
            raise InvalidArtifact(
                f"the CosyVoice server at {self.url} returned no audio for this text ({call.endpoint}, {len(pcm)} bytes)",
                backend=self.backend,
            )
        if len(pcm) % SAMPLE_WIDTH:
            raise BackendError(
                f"the CosyVoice server at {self.url} cut off its audio stream ({call.endpoint}): "
                f"{len(pcm)} bytes is not a whole number of int16 samples",
                backend=self.backend,
            )
        write_mono_wav(dest, pcm, self._rate)
        if abs(request.speed - 1.0) > 1e-3:
            await self._change_speed(dest, request.speed, ctx)
        return SpeechResult(duration=wav_duration(dest), sample_rate=self._rate, voice=call.voice)

    async def _fetch_pcm(self, call: InferenceCall) -> bytes:
        files = None
        if call.prompt_wav is not None:
            files = {"prompt_wav": (call.prompt_wav.name, call.prompt_wav.read_bytes(), "audio/wav")}
        return await self._post(call.endpoint, data=call.form, files=files)

    async def _post(self, endpoint: str, **request: object) -> bytes:
        """POST to the server and return the whole reply body; every failure becomes a clear error."""
        received: list[bytes] | None = None  # set once the status line and headers are in
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                async with client.stream("POST", f"{self.url}{endpoint}", **request) as response:
                    received = []
                    async for chunk in response.aiter_bytes():
                        received.append(chunk)
                    data = b"".join(received)
                    if response.status_code != 200:
                        raise BackendError(
                            f"the CosyVoice server at {self.url} answered {response.status_code} on {endpoint}: "
                            f"{_error_message(data)}",
                            backend=self.backend,
                        )
                    return data
        except httpx.TimeoutException as error:
            raise BackendTimeout(
                f"the CosyVoice server at {self.url} did not finish within {self._timeout:g} s (COSYVOICE_TIMEOUT_S)",
                backend=self.backend,
            ) from error
        except httpx.TransportError as error:
            received_bytes = None if received is None else sum(map(len, received))
            raise self._transport_error(error, received_bytes, endpoint, request.get("data")) from error

    def _transport_error(self, error: httpx.TransportError, received: int | None, endpoint: str, form: object) -> BackendError:
        if received is None and isinstance(error, httpx.RemoteProtocolError):
            return BackendError(
                f"the CosyVoice server at {self.url} closed the connection without answering ({endpoint}): "
                f"{describe_exception(error, with_type=True)}",
                backend=self.backend,
            )
        if received is not None:
            return BackendError(
                f"the CosyVoice server at {self.url} cut off its audio stream ({endpoint}) after {received or 0} bytes: it failed "
                f"mid-stream, after answering 200, so the cause is in the server's log "
                f"({describe_exception(error, with_type=True)}){_likely_cause(endpoint, form) if not received else ''}",
                backend=self.backend,
            )
        return BackendUnavailable(
            f"cannot reach the CosyVoice server at {self.url} (COSYVOICE_URL): {describe_exception(error, with_type=True)}",
            backend=self.backend,
        )

    async def _synthesize_openai(self, request: SpeechRequest, dest: Path, ctx: StageContext) -> SpeechResult:
        body = openai_body(request, model=self._openai_model, speaker=self._speaker)
        data = await cancellable(self._post("/v1/audio/speech", json=body), ctx)
        if not data:
            raise InvalidArtifact(
                f"the CosyVoice server at {self.url} returned no audio for this text (/v1/audio/speech)", backend=self.backend
            )
        pcm, rate = _mono_s16_from_wav(data, self.url)
        if len(pcm) < SAMPLE_WIDTH * rate // 20:
            raise InvalidArtifact(
                f"the CosyVoice server at {self.url} returned no audio for this text (/v1/audio/speech)", backend=self.backend
            )
        write_mono_wav(dest, pcm, rate)
        return SpeechResult(duration=wav_duration(dest), sample_rate=rate, voice=body["voice"])

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

        probe = "/docs" if self._api == "fastapi" else "/v1/models"
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.get(f"{self.url}{probe}")
        except httpx.HTTPError as error:
            return result(False, f"cannot reach the CosyVoice server: {describe_exception(error, with_type=True)}")
        if self._api == "openai":
            # Wrappers differ in what they serve besides /v1/audio/speech; any non-5xx answer means it is up.
            if response.status_code >= 500:
                return result(False, f"the CosyVoice server answered {response.status_code} on {probe}")
            return result(True, f"OpenAI-style API, model {self._openai_model}, voice {self._speaker}")
        if response.status_code != 200:
            return result(False, f"the CosyVoice server answered {response.status_code} on {probe}")
        if self._prompt_wav is not None:
            return result(True, f"{self.model.split(':')[0]} with prompt {self._prompt_wav.name}, {self._rate} Hz")
        return result(True, f"speaker {self._speaker}, {self._rate} Hz")


def _likely_cause(endpoint: str, form: object) -> str:
    """What most often makes the upstream server fail before its first audio chunk."""
    if endpoint == "/inference_sft":
        speaker = form.get("spk_id", "") if isinstance(form, dict) else ""
        return (f". Most likely the model has no speaker '{speaker}': only CosyVoice-300M-SFT has built-in speakers "
                "(COSYVOICE_SPEAKER); with CosyVoice2/3 set COSYVOICE_PROMPT_WAV and COSYVOICE_PROMPT_TEXT")
    if endpoint in ("/inference_zero_shot", "/inference_instruct2"):
        return (". If the log says 'Invalid file: tensor(...)', the server's checkout is one whose model code takes a file path "
                "while its FastAPI server passes a loaded clip (docs/configuration.md lists the versions known to work)")
    return ""


def _voice_prompts(setting: dict[str, dict[str, str]]) -> dict[str, VoicePrompt]:
    """COSYVOICE_VOICE_PROMPTS checked: every voice names a readable clip and its transcript."""
    prompts = {}
    for name, entry in setting.items():
        wav, text = Path(entry.get("wav", "")).expanduser(), entry.get("text", "").strip()
        if not name.strip() or not entry.get("wav") or not text:
            raise ConfigurationError(f"COSYVOICE_VOICE_PROMPTS: the voice {name!r} needs a \"wav\" path and its \"text\" transcript")
        if not wav.is_file():
            raise ConfigurationError(f"COSYVOICE_VOICE_PROMPTS: the clip '{wav}' of the voice {name!r} is not a file")
        prompts[name] = VoicePrompt(wav, text)
    return prompts


def _error_message(data: bytes) -> str:
    """An OpenAI-style error body's error.message (or detail), else the start of the body."""
    try:
        body = json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")[:300]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if body.get("detail"):
            return str(body["detail"])
    return data.decode("utf-8", "replace")[:300]


def _mono_s16_from_wav(data: bytes, url: str) -> tuple[bytes, int]:
    """The PCM of a 16-bit mono or stereo RIFF WAV, downmixed to mono, and its rate."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise InvalidArtifact(
            f"the CosyVoice server at {url} did not answer a WAV file on /v1/audio/speech (starts with {data[:12]!r})",
            backend="cosyvoice",
        )
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as error:
        raise InvalidArtifact(f"the CosyVoice server at {url} answered an unreadable WAV: {error}", backend="cosyvoice") from error
    if width != SAMPLE_WIDTH or channels not in (1, 2):
        raise InvalidArtifact(
            f"the CosyVoice server at {url} answered a {channels}-channel {8 * width}-bit WAV; expected 16-bit mono or stereo",
            backend="cosyvoice",
        )
    frames = frames[: len(frames) - len(frames) % (SAMPLE_WIDTH * channels)]
    if channels == 2:
        samples = array.array("h", frames)
        if sys.byteorder == "big":
            samples.byteswap()
        mono = array.array("h", ((samples[i] + samples[i + 1]) // 2 for i in range(0, len(samples), 2)))
        if sys.byteorder == "big":
            mono.byteswap()
        frames = mono.tobytes()
    return frames, rate
