"""The HTTP side of PixVerse's platform API: headers, retries, and ErrCode answers turned into errors
that say what to do.

Every request carries ``API-KEY`` and a fresh ``Ai-trace-id``; every answer is ``{"ErrCode", "ErrMsg",
"Resp"}``, ErrCode 0 meaning success (errors may come with HTTP 200). The codes recognised here are
those of PixVerse's error-code table; a rejected key has no code in that table, so it is recognised by
its message (``Invalid API-KEY``) or an HTTP 401/403, and credits by their message as well as by code.
"""

from __future__ import annotations

import uuid

import httpx

from app_api.dashscope.errors import ContentRejected
from story2video.config import Settings
from story2video.errors import BackendError, BackendUnavailable
from story2video.providers.retry import RetryPolicy, Service, request_with_retries

BACKEND = "pixverse"
SERVICE = Service(BACKEND, "PIXVERSE_REQUEST_TIMEOUT_S", "PIXVERSE_BASE_URL")
INVALID_ACCOUNT = 400012  # "Invalid account"
CONCURRENCY_LIMIT = 500044  # "Reached the limit for concurrent generations."
MODERATION = (500054, 500063)  # an image refused; a video, image or text refused before generating
CREDITS_USED_UP = 500090  # "Insufficient balance. Unable to generate video. Please top up your credits."
_KEY_WORDS = ("api key", "api-key", "apikey")
_CREDIT_WORDS = ("credit", "insufficient balance")


class PixVerseClient:
    def __init__(self, settings: Settings, retry: RetryPolicy | None = None):
        self.base_url = settings.pixverse_base_url.rstrip("/")
        self.timeout = settings.pixverse_request_timeout_s
        self.retry = retry or RetryPolicy.from_settings(settings)
        self._key = settings.pixverse_api_key

    async def call(self, method: str, path: str, **kwargs) -> dict:
        """``Resp`` of a successful answer; ``PixVerseError`` for a nonzero ErrCode."""
        response = await self._request(method, f"{self.base_url}{path}", headers={"API-KEY": self._key, "Ai-trace-id": str(uuid.uuid4())}, **kwargs)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or "ErrCode" not in answer:
            if response.status_code in (401, 403):
                raise key_rejected(response.status_code, response.text[:200])
            raise BackendError(f"PixVerse {path} answered {response.status_code} without its usual body: {response.text[:200]!r}", backend=BACKEND)
        code, message = int(answer.get("ErrCode") or 0), str(answer.get("ErrMsg") or "")
        if code != 0 or response.status_code >= 400:
            raise PixVerseError(code, message, response.status_code)
        resp = answer.get("Resp")
        return resp if isinstance(resp, dict) else {}

    async def upload(self, path: str, field: str, name: str, content: bytes, mime: str) -> dict:
        """A multipart upload (``image`` to the image upload, ``file`` to the media upload)."""
        return await self.call("POST", path, files={field: (name, content, mime)})

    async def download(self, url: str) -> httpx.Response:
        return await self._request("GET", url)

    async def _request(self, method: str, url: str, **kwargs) -> httpx.Response:
        return await request_with_retries(SERVICE, method, url, self.retry, self.timeout, **kwargs)


class PixVerseError(BackendError):
    """A nonzero ErrCode: ``described`` turns it into the error a user can act on."""

    def __init__(self, code: int, message: str, status: int):
        super().__init__(f"PixVerse answered ErrCode {code}: {message}", backend=BACKEND)
        self.err_code, self.err_message, self.status = code, message, status

    def described(self) -> BackendError:
        code, message = self.err_code, self.err_message
        words = message.lower()
        if self.status in (401, 403) or code == INVALID_ACCOUNT or any(word in words for word in _KEY_WORDS):
            return key_rejected(code, message)
        if code == CREDITS_USED_UP or any(word in words for word in _CREDIT_WORDS):
            return BackendUnavailable(f"PixVerse credits are used up ({code}: {message}): buy credits or a plan on platform.pixverse.ai", backend=BACKEND)
        if code in MODERATION:
            return ContentRejected(f"PixVerse moderation refused the keyframe, a reference picture or the prompt ({code}: {message}); reword the shot or draw it again", backend=BACKEND)
        return BackendError(f"PixVerse refused the clip ({code}: {message})", backend=BACKEND)


def key_rejected(code: object, message: str) -> BackendUnavailable:
    return BackendUnavailable(f"PIXVERSE_API_KEY was rejected ({code}: {message}): set a key from platform.pixverse.ai", backend=BACKEND)
