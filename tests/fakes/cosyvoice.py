"""A fake CosyVoice FastAPI server: /inference_sft answers a headerless int16 LE mono PCM stream."""

from __future__ import annotations

import math
import struct

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

SECONDS_PER_CHAR = 0.12


class FakeCosyVoice:
    def __init__(self, server: HTTPServer, rate: int = 22050, speakers: tuple[str, ...] = ("中文女", "英文男")):
        self.server = server
        self.rate = rate
        self.speakers = speakers
        self.requests: list[dict] = []
        self.silent = False
        server.expect_request("/docs", method="GET").respond_with_data("<html>Swagger UI</html>", content_type="text/html")
        server.expect_request("/inference_sft", method="POST").respond_with_handler(self._sft)

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def _sft(self, request: Request) -> Response:
        form = {key: request.form[key] for key in request.form}
        self.requests.append(form)
        if form.get("spk_id") not in self.speakers:
            # The real server fails inside the model and FastAPI answers 500 with a text body.
            return Response("Internal Server Error", status=500, content_type="text/plain")
        samples = 0 if self.silent else int(len(form["tts_text"]) * SECONDS_PER_CHAR * self.rate)
        return Response(_chunks(samples, self.rate), content_type="application/octet-stream")


def _chunks(samples: int, rate: int, chunk: int = 4096):
    for start in range(0, samples, chunk):
        count = min(chunk, samples - start)
        yield b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 220 * (start + i) / rate))) for i in range(count)
        )
