"""Keyframes from Volcengine Ark's image generation (Seedream / Jimeng models), IMAGE_BACKEND=volcengine.

The call is synchronous: ``POST {ARK_BASE_URL}/images/generations`` with a bearer key answers
``{"model", "created", "data": [{"url", "size"}], "usage": {"generated_images"}}`` once the picture
exists; its link lasts 24 hours, so it is fetched at once. Errors come as ``{"error": {"code",
"message", "param", "type"}}``. The size asked for is the frame scaled up into the models' pixel range
(SIZE_MIN_PIXELS..SIZE_MAX_PIXELS, each side a multiple of 16, aspect within 1:16..16:1); the picture
received is then fitted to the frame exactly. docs/configuration.md describes the protocol.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from app_api.dashscope.errors import ContentRejected
from story2video.config import Settings
from story2video.errors import BackendError, BackendUnavailable, InvalidArtifact, InvalidRequest, describe_exception
from story2video.media.pictures import write_cover_png
from story2video.providers.base import BackendStatus, ImageRequest, ImageResult, StageContext
from story2video.providers.picture_prompt import picture_prompt
from story2video.providers.retry import RetryPolicy, Service, request_with_retries, where

BACKEND = "volcengine"
SERVICE = Service(BACKEND, "ARK_TIMEOUT_S", "ARK_BASE_URL")
SIZE_MIN_PIXELS = 1280 * 720  # the least Seedream 4.x draws
SIZE_MAX_PIXELS = 4096 * 4096
MAX_ASPECT = 16.0
_MODERATION_MARKS = ("SensitiveContent", "RiskDetection")  # e.g. InputTextSensitiveContentDetected, OutputImageRiskDetection


def request_size(width: int, height: int) -> tuple[int, int]:
    """The size to ask Ark for: the frame's shape, scaled into the models' pixel range, sides in 16s."""
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise InvalidRequest(f"Volcengine Ark draws aspect ratios up to 16:1, not {width}x{height}", param="aspect_ratio")
    pixels = width * height
    scale = math.sqrt(SIZE_MIN_PIXELS / pixels) if pixels < SIZE_MIN_PIXELS else min(1.0, math.sqrt(SIZE_MAX_PIXELS / pixels))
    sized = [max(16, math.ceil(side * scale / 16) * 16) for side in (width, height)]
    while sized[0] * sized[1] > SIZE_MAX_PIXELS:  # rounding up may cross the top
        sized = [side - 16 for side in sized]
    return sized[0], sized[1]


class VolcengineImageGenerator:
    backend = BACKEND

    def __init__(self, settings: Settings, retry: RetryPolicy | None = None):
        self.base_url = settings.ark_base_url.rstrip("/")
        self.model = settings.ark_image_model
        self.watermark = settings.ark_watermark
        self.timeout = settings.ark_timeout_s
        self.retry = retry or RetryPolicy.from_settings(settings)
        self._key = settings.ark_api_key
        self.host = urlsplit(self.base_url).netloc or self.base_url

    async def generate(self, request: ImageRequest, dest: Path, ctx: StageContext) -> ImageResult:
        ctx.raise_if_cancelled()
        width, height = request_size(request.width, request.height)
        prompt = picture_prompt(request).inline  # Ark takes no negative prompt
        body = {
            "model": self.model, "prompt": prompt, "size": f"{width}x{height}", "seed": request.seed % 2**31,
            "response_format": "url", "watermark": self.watermark, "sequential_image_generation": "disabled", "stream": False,
        }  # fmt: skip
        answer = await self._request("POST", f"{self.base_url}/images/generations", json=body, headers=self._auth())
        if not answer.is_success:
            raise self._failure(answer)
        url = _first_url(answer)
        ctx.raise_if_cancelled()
        picture = await self._request("GET", url)  # the link lasts 24 h: fetched at once, without the key
        if not picture.is_success:
            raise BackendError(f"the picture Ark drew could not be fetched from {where(url)} ({picture.status_code})", backend=BACKEND)
        await asyncio.to_thread(write_cover_png, picture.content, dest, request.width, request.height, _unreadable)
        return ImageResult(actual_prompt=prompt)

    async def status(self) -> BackendStatus:
        """The key and the model checked without drawing: a request without a prompt is refused with 400
        by a key Ark accepts, 401 by one it does not, 404 for a model the account lacks."""

        def result(ready: bool, detail: str) -> BackendStatus:
            return BackendStatus("keyframes", BACKEND, self.model, ready, detail, self.base_url)

        try:
            async with httpx.AsyncClient(timeout=10.0) as http:
                response = await http.post(f"{self.base_url}/images/generations", json={"model": self.model}, headers=self._auth())
        except httpx.HTTPError as error:
            return result(False, f"cannot reach {self.host}: {describe_exception(error, with_type=True)}")
        code, message = _error(response)
        if response.status_code == 400:
            return result(True, f"key accepted (a request without a prompt answered 400 {code}); no picture was drawn")
        if response.status_code in (401, 403):
            return result(False, f"ARK_API_KEY was rejected ({response.status_code} {code}: {message})")
        if response.status_code == 404:
            return result(False, f"model {self.model} is not available to this account ({code}: {message}); activate it in the Ark console or set ARK_IMAGE_MODEL")
        return result(False, f"{self.host} answered {response.status_code} {code}: {message}")

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"}

    async def _request(self, method: str, url: str, **kwargs) -> httpx.Response:
        return await request_with_retries(SERVICE, method, url, self.retry, self.timeout, **kwargs)

    def _failure(self, response: httpx.Response) -> BackendError:
        status = response.status_code
        code, message = _error(response)
        if any(mark in code for mark in _MODERATION_MARKS):
            return ContentRejected(f"Volcengine Ark's content check refused the shot ({code}: {message}); reword the shot's detail", backend=BACKEND)
        if status in (401, 403):
            return BackendUnavailable(f"ARK_API_KEY was rejected ({status} {code}: {message}): set a key of the Ark console's region", backend=BACKEND)
        if status == 404:
            return BackendUnavailable(
                f"Volcengine Ark has no model {self.model} for this account ({code}: {message}): activate it in the Ark console or set ARK_IMAGE_MODEL",
                backend=BACKEND,
            )
        if status == 429:
            return BackendUnavailable(f"Volcengine Ark kept answering 429 ({code}: {message}) after {self.retry.attempts} tries; retry later", backend=BACKEND)
        return BackendError(f"Volcengine Ark answered {status} {code}: {message}", backend=BACKEND)


def _error(response: httpx.Response) -> tuple[str, str]:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict):
        error = {}
    return str(error.get("code") or "no code"), str(error.get("message") or response.text[:200] or response.reason_phrase)


def _first_url(response: httpx.Response) -> str:
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise InvalidArtifact(f"Volcengine Ark answered with something other than a JSON object: {response.text[:200]!r}", backend=BACKEND)
    data = answer.get("data")
    url = data[0].get("url") if isinstance(data, list) and data and isinstance(data[0], dict) else None
    if not isinstance(url, str) or not url:
        problem = (data[0].get("error") if isinstance(data, list) and data and isinstance(data[0], dict) else None) or answer
        raise InvalidArtifact(f"Volcengine Ark answered without a picture URL: {str(problem)[:200]}", backend=BACKEND)
    return url


def _unreadable(why: str) -> InvalidArtifact:
    return InvalidArtifact(f"Volcengine Ark's picture is not an image Pillow reads: {why}", backend=BACKEND)
