"""A fake Volcengine Ark image generation endpoint, speaking its protocol.

- ``POST /api/v3/images/generations`` (bearer key): ``{"model", "prompt", "size": "WxH", "seed",
  "response_format": "url", "watermark", ...}`` → ``{"model", "created", "data": [{"url", "size"}],
  "usage": {"generated_images": 1}}``. A size outside 1280x720..4096x4096 pixels or 1:16..16:1 is
  400 ``InvalidParameter``; a missing prompt 400 ``MissingParameter``; a prompt containing ``MARKER``
  400 ``InputTextSensitiveContentDetected``; an unknown model 404 ``InvalidEndpointOrModel.NotFound``;
  a wrong key 401 ``AuthenticationError``. Answers queued in ``canned`` come first (e.g. 429).
- ``GET /results/{name}``: the drawn PNG, without auth, as Ark's signed links serve them.
Errors are ``{"error": {"code", "message", "param", "type"}}``.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
import uuid
from dataclasses import dataclass, field

from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.asgi_thread import FakeServer

KEY = "ark-fake-3f9a"
MARKER = "FORBIDDEN"


def error_body(code: str, message: str, param: str = "") -> dict:
    return {"error": {"code": code, "message": message, "param": param, "type": "BadRequest"}}


@dataclass
class Canned:
    status: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)


class FakeArk(FakeServer):
    def __init__(self, models: tuple[str, ...] = ("doubao-seedream-4-0-250828",)):
        self.models = set(models)
        self.canned: list[Canned] = []
        self.requests: list[dict] = []
        self.generated = 0
        self.results: dict[str, bytes] = {}
        self.app = Starlette(
            routes=[
                Route("/api/v3/images/generations", self._generate, methods=["POST"]),
                Route("/results/{name}", self._result, methods=["GET"]),
            ]
        )

    def settings(self) -> dict:
        return {
            "ark_base_url": f"{self.url}/api/v3", "ark_api_key": KEY,
            "api_retry_attempts": 3, "api_retry_base_delay": 0.001, "api_retry_max_delay": 2.0,
        }  # fmt: skip

    async def _generate(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return JSONResponse(error_body("AuthenticationError", "the API key in the request is missing or invalid"), status_code=401)
        if self.canned:
            canned = self.canned.pop(0)
            return JSONResponse(canned.body, status_code=canned.status, headers=canned.headers)
        if body.get("model") not in self.models:
            return JSONResponse(error_body("InvalidEndpointOrModel.NotFound", f"The model or endpoint {body.get('model')} does not exist or you do not have access to it."), status_code=404)
        if not body.get("prompt"):
            return JSONResponse(error_body("MissingParameter", "The required parameter prompt is missing.", "prompt"), status_code=400)
        if MARKER in body["prompt"]:
            return JSONResponse(error_body("InputTextSensitiveContentDetected", "The request failed because the input text may contain sensitive information."), status_code=400)
        size = re.fullmatch(r"(\d+)x(\d+)", str(body.get("size", "")))
        width, height = (int(size.group(1)), int(size.group(2))) if size else (0, 0)
        if not size or not 1280 * 720 <= width * height <= 4096 * 4096 or not 1 / 16 <= width / height <= 16:
            return JSONResponse(error_body("InvalidParameter", f"The specified parameter size {body.get('size')} is invalid.", "size"), status_code=400)
        name = f"{uuid.uuid4().hex}.jpeg"
        self.results[name] = _picture(width, height, body["prompt"])
        self.generated += 1
        data = [{"url": f"{self.url}/results/{name}?X-Tos-Signature=fake", "size": f"{width}x{height}"}]
        return JSONResponse({"model": body["model"], "created": int(time.time()), "data": data, "usage": {"generated_images": 1}})

    async def _result(self, request: Request) -> Response:
        data = self.results.get(request.path_params["name"])
        if data is None:
            return Response(status_code=404)
        return Response(data, media_type="image/jpeg")


def _picture(width: int, height: int, prompt: str) -> bytes:
    """A JPEG of the size asked for, its colour from the prompt; the left tenth black, so that a test
    sees whether the frame was cut from the middle."""
    colour = tuple(hashlib.sha256(prompt.encode()).digest()[:3])
    picture = Image.new("RGB", (width, height), colour)
    picture.paste((0, 0, 0), (0, 0, width // 10, height))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()
