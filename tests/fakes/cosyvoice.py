"""A fake CosyVoice server.

FastAPI runtime: /inference_sft (form), /inference_zero_shot and /inference_instruct2 (multipart
form with a ``prompt_wav`` file) answer a headerless int16 LE mono PCM stream. OpenAI-style
wrapper: /v1/audio/speech (JSON) answers a WAV file.

Like the real server (a FastAPI StreamingResponse over the model's generator), a failure inside the
model comes after the 200 and its headers: the chunked body stops without its last chunk and the
connection closes. An unknown ``spk_id`` fails that way before any audio (the model's KeyError).

Switches: ``silent`` (an empty reply), ``truncated`` (Content-Length promises more than is sent,
then the connection closes), ``odd_bytes`` (a stream that ends mid-sample), ``fail_after_s`` (the
model fails after this many seconds of audio, on every endpoint).
"""

from __future__ import annotations

import io
import json
import math
import struct
import wave

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

SECONDS_PER_CHAR = 0.12


class FakeCosyVoice:
    def __init__(self, server: HTTPServer, rate: int = 24000, speakers: tuple[str, ...] = ("中文女", "英文男")):
        self.server = server
        self.rate = rate
        self.speakers = speakers
        self.requests: list[dict] = []  # form fields of /inference_sft (kept as before)
        self.calls: list[dict] = []  # every synthesis call: endpoint, form, prompt_wav bytes / JSON body
        self.silent = False
        self.truncated = False
        self.odd_bytes = False
        self.fail_after_s: float | None = None
        self.openai_channels = 1
        self.openai_rate = 24000
        server.expect_request("/docs", method="GET").respond_with_data("<html>Swagger UI</html>", content_type="text/html")
        server.expect_request("/inference_sft", method="POST").respond_with_handler(self._sft)
        server.expect_request("/inference_zero_shot", method="POST").respond_with_handler(self._zero_shot)
        server.expect_request("/inference_instruct2", method="POST").respond_with_handler(self._instruct2)
        server.expect_request("/v1/audio/speech", method="POST").respond_with_handler(self._openai)
        server.expect_request("/v1/models", method="GET").respond_with_json({"data": [{"id": "cosyvoice"}]})

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def _sft(self, request: Request) -> Response:
        form = {key: request.form[key] for key in request.form}
        self.requests.append(form)
        self.calls.append({"endpoint": "/inference_sft", "form": form})
        if form.get("spk_id") not in self.speakers:
            return self._broken_stream(0)  # KeyError in the model's frontend, before the first chunk
        return self._pcm(form["tts_text"])

    def _with_prompt(self, request: Request, endpoint: str, fields: tuple[str, ...]) -> Response:
        form = {key: request.form[key] for key in request.form}
        upload = request.files.get("prompt_wav")
        prompt = upload.read() if upload is not None else None
        self.calls.append({"endpoint": endpoint, "form": form, "prompt_wav": prompt})
        missing = [name for name in fields if name not in form] + ([] if prompt else ["prompt_wav"])
        if missing:
            # FastAPI's validation error for missing Form/File fields.
            detail = [{"type": "missing", "loc": ["body", name], "msg": "Field required"} for name in missing]
            return Response(json.dumps({"detail": detail}), status=422, content_type="application/json")
        return self._pcm(form["tts_text"])

    def _zero_shot(self, request: Request) -> Response:
        return self._with_prompt(request, "/inference_zero_shot", ("tts_text", "prompt_text"))

    def _instruct2(self, request: Request) -> Response:
        return self._with_prompt(request, "/inference_instruct2", ("tts_text", "instruct_text"))

    def _broken_stream(self, samples: int) -> Response:
        """A chunked body that stops without its closing chunk: what uvicorn sends when the generator raises."""

        def body():
            for chunk in _chunks(samples, self.rate):
                yield f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"

        return Response(body(), content_type="application/octet-stream", headers={"Transfer-Encoding": "chunked"})

    def _pcm(self, text: str) -> Response:
        samples = 0 if self.silent else int(len(text) * SECONDS_PER_CHAR * self.rate)
        if self.fail_after_s is not None:
            return self._broken_stream(min(samples, int(self.fail_after_s * self.rate)))
        if self.truncated:
            sent = b"".join(_chunks(samples // 2, self.rate))
            # Promise the whole stream, send half, then the server closes the connection.
            return Response(
                [sent], content_type="application/octet-stream", headers={"Content-Length": str(samples * 2), "Connection": "close"}
            )
        if self.odd_bytes:
            return Response(b"".join(_chunks(samples, self.rate)) + b"\x00", content_type="application/octet-stream")
        return Response(_chunks(samples, self.rate), content_type="application/octet-stream")

    def _openai(self, request: Request) -> Response:
        body = json.loads(request.get_data())
        self.calls.append({"endpoint": "/v1/audio/speech", "json": body})
        if not body.get("input"):
            error = {"error": {"message": "input must not be empty", "type": "invalid_request_error"}}
            return Response(json.dumps(error), status=400, content_type="application/json")
        if body.get("voice") not in self.speakers:
            error = {"error": {"message": f"unknown voice '{body.get('voice')}'", "type": "invalid_request_error"}}
            return Response(json.dumps(error), status=400, content_type="application/json")
        if self.silent:
            return Response(b"", content_type="audio/wav")
        speed = float(body.get("speed") or 1.0)
        samples = int(len(body["input"]) * SECONDS_PER_CHAR * self.openai_rate / speed)
        mono = b"".join(_chunks(samples, self.openai_rate))
        if self.openai_channels == 2:
            mono = b"".join(mono[i : i + 2] * 2 for i in range(0, len(mono), 2))
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as wav:
            wav.setnchannels(self.openai_channels)
            wav.setsampwidth(2)
            wav.setframerate(self.openai_rate)
            wav.writeframes(mono)
        return Response(buffer.getvalue(), content_type="audio/wav")


def _chunks(samples: int, rate: int, chunk: int = 4096):
    for start in range(0, samples, chunk):
        count = min(chunk, samples - start)
        yield b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 220 * (start + i) / rate))) for i in range(count)
        )
