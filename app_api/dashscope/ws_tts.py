"""One CosyVoice synthesis over DashScope's WebSocket protocol.

Client → server (JSON text frames): ``run-task`` (model and voice parameters), ``continue-task``
(the text), ``finish-task``. Server → client: JSON events ``task-started``, ``result-generated``,
``task-finished`` or ``task-failed``, and the audio itself as binary frames.

With ``word_timestamp_enabled`` in the run-task parameters, ``result-generated`` events carry
``payload.output.sentence`` = ``{index, words: [{text, begin_index, end_index, begin_time, end_time}]}``
(times in ms from the start of the task's audio); a sentence's list grows over its events and is whole
at ``sentence-end``, so the last list seen per sentence is kept.

Built on the ``websockets`` asyncio client: the synthesis is a coroutine like every other backend
call, so timeouts and cancellation are plain asyncio, and no thread is held per shot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from app_api.dashscope.errors import (
    BACKEND,
    ContentRejected,
    Endpoint,
    error_for,
    is_moderation,
)
from story2video.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    InvalidArtifact,
    describe_exception,
)
from story2video.providers.retry import is_retryable

# websockets logs every handshake header at DEBUG, the Authorization header included: its logger
# for this connection never goes below INFO, whatever LOG_LEVEL says.
_WS_LOG = logging.getLogger("app_api.dashscope.ws")
_WS_LOG.setLevel(logging.INFO)


class TransientSpeechFailure(Exception):
    """A failure worth another try (throttling, a dropped connection); ``error`` is what to raise at the end."""

    def __init__(self, error: BackendError, retry_after: float | None = None):
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


@dataclass(frozen=True)
class SpokenWord:
    text: str
    begin_ms: int
    end_ms: int


@dataclass(frozen=True)
class SpeechAudio:
    audio: bytes
    words: list[SpokenWord]  # in spoken order; empty when the service sent none


@dataclass(frozen=True)
class SpeechTask:
    model: str
    parameters: dict  # voice, format, sample_rate, rate, pitch, ...
    text: str


def command(action: str, task_id: str, payload: dict) -> str:
    return json.dumps({"header": {"action": action, "task_id": task_id, "streaming": "duplex"}, "payload": payload})


def run_task_payload(task: SpeechTask) -> dict:
    return {
        "task_group": "audio",
        "task": "tts",
        "function": "SpeechSynthesizer",
        "model": task.model,
        "parameters": {"text_type": "PlainText", **task.parameters},
        "input": {},
    }


async def speak(url: str, headers: dict[str, str], task: SpeechTask, endpoint: Endpoint, timeout: float, attempts: int) -> SpeechAudio:
    """The audio bytes (and word times) of one synthesis; ``TransientSpeechFailure`` when another try may succeed
    (``attempts``, the tries in all, only words the final error)."""
    try:
        async with connect(url, additional_headers=headers, open_timeout=timeout, max_size=None, logger=_WS_LOG) as ws:
            return await _converse(ws, task, endpoint, timeout)
    except InvalidStatus as rejected:
        raise _handshake_error(rejected, endpoint, attempts) from rejected
    except (ConnectionClosed, InvalidHandshake, OSError) as error:
        problem = f"DashScope speech WebSocket {url} failed: {describe_exception(error, with_type=True)}; check DASHSCOPE_WS_URL and the network"
        failure = BackendUnavailable(problem, backend=BACKEND)
        raise TransientSpeechFailure(failure) from error
    except TimeoutError as error:
        problem = f"DashScope speech synthesis sent nothing for {timeout:g} s (DASHSCOPE_REQUEST_TIMEOUT_S)"
        failure = BackendTimeout(problem, backend=BACKEND)
        raise TransientSpeechFailure(failure) from error


async def _converse(ws: ClientConnection, task: SpeechTask, endpoint: Endpoint, timeout: float) -> SpeechAudio:
    task_id = uuid.uuid4().hex
    audio = bytearray()
    sentences: dict[int, list[SpokenWord]] = {}
    await ws.send(command("run-task", task_id, run_task_payload(task)))
    await _expect(ws, "task-started", audio, sentences, endpoint, timeout)
    await ws.send(command("continue-task", task_id, {"input": {"text": task.text}}))
    await ws.send(command("finish-task", task_id, {"input": {}}))
    await _expect(ws, "task-finished", audio, sentences, endpoint, timeout)
    words = [word for index in sorted(sentences) for word in sentences[index]]
    return SpeechAudio(bytes(audio), words)


async def _expect(
    ws: ClientConnection, wanted: str, audio: bytearray, sentences: dict[int, list[SpokenWord]], endpoint: Endpoint, timeout: float
) -> None:
    """Read frames (collecting audio and each sentence's words) until the event ``wanted``; a
    ``task-failed`` event raises."""
    while True:
        frame = await asyncio.wait_for(ws.recv(), timeout)
        if isinstance(frame, bytes):
            audio.extend(frame)
            continue
        message = _message(frame)
        header = message["header"]
        event = header.get("event")
        if event == "result-generated":
            _note_words(message, sentences)
        if event == wanted:
            return
        if event == "task-failed":
            raise task_failure(header, endpoint)


def _note_words(message: dict, sentences: dict[int, list[SpokenWord]]) -> None:
    payload = message.get("payload")
    output = payload.get("output") if isinstance(payload, dict) else None
    sentence = output.get("sentence") if isinstance(output, dict) else None
    if not isinstance(sentence, dict) or not sentence.get("words"):
        return
    try:
        words = [SpokenWord(str(word["text"]), int(word["begin_time"]), int(word["end_time"])) for word in sentence["words"]]
        sentences[int(sentence.get("index", 0))] = words
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidArtifact(f"DashScope speech sent word timestamps without text/begin_time/end_time: {sentence!r:.200}", backend=BACKEND) from error


def _message(frame: str) -> dict:
    try:
        message = json.loads(frame)
    except json.JSONDecodeError as error:
        raise InvalidArtifact(f"DashScope speech sent a text frame that is not JSON: {frame[:200]!r}", backend=BACKEND) from error
    header = message.get("header") if isinstance(message, dict) else None
    if not isinstance(header, dict):
        raise InvalidArtifact(f"DashScope speech sent an event without a header: {frame[:200]!r}", backend=BACKEND)
    return message


def task_failure(header: dict, endpoint: Endpoint) -> Exception:
    code, message = str(header.get("error_code") or ""), str(header.get("error_message") or "")
    reason = f"{code}: {message}" if code else message or "no reason given"
    if is_moderation(code, message):
        problem = f"DashScope content moderation rejected this shot's narration ({reason}); reword the narration"
        return ContentRejected(problem, backend=BACKEND)
    if code.startswith("Throttling") or code in ("InternalError", "ServiceUnavailable"):
        problem = f"DashScope speech synthesis kept failing ({reason}); lower {endpoint.concurrency_setting} or try later"
        failure = BackendUnavailable(problem, backend=BACKEND)
        return TransientSpeechFailure(failure)
    if code == "InvalidApiKey":
        problem = "DASHSCOPE_API_KEY was rejected by DashScope speech synthesis (InvalidApiKey): set a valid key for this region"
        return BackendUnavailable(problem, backend=BACKEND)
    return BackendError(
        f"DashScope speech synthesis failed ({reason}): check {endpoint.model_setting}={endpoint.model}, "
        "DASHSCOPE_TTS_VOICE (the voice must belong to the model) and DASHSCOPE_TTS_FORMAT/SAMPLE_RATE",
        backend=BACKEND,
    )


def _handshake_error(rejected: InvalidStatus, endpoint: Endpoint, attempts: int) -> Exception:
    answer = rejected.response
    response = httpx.Response(answer.status_code, headers=list(answer.headers.raw_items()), content=bytes(answer.body or b""))
    error = error_for(response, endpoint, attempts)
    if is_retryable(answer.status_code):
        retry_after = answer.headers.get("Retry-After", "")
        return TransientSpeechFailure(error, float(retry_after) if retry_after.isdigit() else None)
    return error
