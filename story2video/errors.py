"""The exception tree of Story2Video.

Every error the service raises on purpose derives from ``Story2VideoError``; the API maps each
class to one HTTP status in ``story2video.api.errors`` (the only place that does so).

    Story2VideoError                 base; carries ``code`` and a human ``message``
    ├── InvalidRequest               400  the caller sent something we refuse (``param`` names the field)
    │   ├── PayloadTooLarge          413  an upload (or a file behind an imported URL) over its size limit
    │   └── UnsupportedMedia         415  an upload that is none of the accepted image or audio formats
    ├── Unauthorized                 401  API keys are on and the request has no valid key
    ├── Forbidden                    403  the key may not act for the user_id the request names
    ├── NotFound                     404  unknown story, shot, operation or artifact
    ├── Conflict                     409  e.g. an operation_id reused with a different body
    ├── QueueFull                    429  too many operations waiting; ``retry_after`` seconds
    ├── RateLimited                  429  too many attempts (e.g. failed log-ins); ``retry_after`` seconds
    ├── QueueUnavailable             503  the work queue (CELERY_BROKER_URL) cannot be reached
    ├── RemoteError                  (its code's status) a failure another process reported, raised again here
    ├── OperationCancelled           409  the operation was cancelled before it finished
    ├── ConfigurationError           500  settings that cannot work (raised at start-up)
    ├── BackendError                 502  a model backend failed (``stage``, ``backend``, ``shot_id``)
    │   ├── BackendUnavailable       503  configured but unreachable / not ready
    │   ├── BackendTimeout           504  no answer within the per-call timeout
    │   └── InvalidArtifact          502  the backend returned something that is not what it claims
    ├── DatabaseUnavailable          503  the PostgreSQL server cannot be reached (names host:port/database)
    ├── MediaError                   500  FFmpeg or media handling failed
    │   └── FFmpegNotFound           500  no usable FFmpeg binary
    └── StorageFull                  507  no space left where artifacts are written
"""

from __future__ import annotations

import re


class Story2VideoError(Exception):
    code = "internal_error"

    def __init__(self, message: str, *, stage: str | None = None, shot_id: str | None = None):
        super().__init__(message)
        self.message = message
        self.stage = stage
        self.shot_id = shot_id

    def with_context(self, *, stage: str | None = None, shot_id: str | None = None) -> "Story2VideoError":
        """Fill in where the error happened, keeping anything already known."""
        self.stage = self.stage or stage
        self.shot_id = self.shot_id or shot_id
        return self

    def to_dict(self) -> dict:
        body: dict = {"code": self.code, "message": self.message}
        if self.stage:
            body["stage"] = self.stage
        if self.shot_id:
            body["shot_id"] = self.shot_id
        return body


class InvalidRequest(Story2VideoError):
    code = "invalid_request"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.param = param
        if code:
            self.code = code

    def to_dict(self) -> dict:
        body = super().to_dict()
        if self.param:
            body["param"] = self.param
        return body


class PayloadTooLarge(InvalidRequest):
    code = "payload_too_large"


class UnsupportedMedia(InvalidRequest):
    code = "unsupported_media_type"


class Unauthorized(Story2VideoError):
    code = "unauthorized"


class Forbidden(Story2VideoError):
    code = "forbidden"

    def __init__(self, message: str, *, param: str | None = None):
        super().__init__(message)
        self.param = param

    def to_dict(self) -> dict:
        body = super().to_dict()
        if self.param:
            body["param"] = self.param
        return body


class NotFound(Story2VideoError):
    code = "not_found"


class Conflict(Story2VideoError):
    code = "conflict"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        if code:
            self.code = code


class QueueFull(Story2VideoError):
    code = "queue_full"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(Story2VideoError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class QueueUnavailable(Story2VideoError):
    code = "queue_unavailable"


class RemoteError(Story2VideoError):
    """A failure another process reported as ``to_dict()`` (a shot's step on another worker), raised
    again here with the same code, message and context."""

    def __init__(self, body: dict):
        super().__init__(str(body.get("message", "")), stage=body.get("stage"), shot_id=body.get("shot_id"))
        self.code = str(body.get("code", Story2VideoError.code))
        self._body = dict(body)

    def to_dict(self) -> dict:
        return {**self._body, **super().to_dict()}


class OperationCancelled(Story2VideoError):
    code = "operation_cancelled"

    def __init__(self, message: str = "the operation was cancelled", **kwargs):
        super().__init__(message, **kwargs)


class ConfigurationError(Story2VideoError):
    code = "configuration_error"


class BackendError(Story2VideoError):
    code = "backend_error"

    def __init__(self, message: str, *, backend: str | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.backend = backend

    def to_dict(self) -> dict:
        body = super().to_dict()
        if self.backend:
            body["backend"] = self.backend
        return body


class BackendUnavailable(BackendError):
    code = "backend_unavailable"


class BackendTimeout(BackendError):
    code = "backend_timeout"


class InvalidArtifact(BackendError):
    code = "invalid_artifact"


class DatabaseUnavailable(Story2VideoError):
    code = "database_unavailable"


class MediaError(Story2VideoError):
    code = "media_error"


class FFmpegNotFound(MediaError):
    code = "ffmpeg_not_found"


class StorageFull(Story2VideoError):
    code = "storage_full"


# ------------------------------------------------------------------ words for errors

_CAUSE_DEPTH = 6
_QUOTED_PATH_RE = re.compile(r"""(['"])((?:~|\.\.?)?/[^'"\n]*)\1""")
_PATH_RE = re.compile(r"(?<![\w.~:/=-])(?:~|\.\.?)?/[^\s'\"/:,;()\[\]<>|]+(?:/[^\s'\"/:,;()\[\]<>|]*)*")
_TEMP_NAME_RE = re.compile(r"[\w-]+\.tmp[.-][\w.-]*")
PATH_PLACEHOLDER = "<file>"


def describe_exception(error: BaseException, *, with_type: bool = False) -> str:
    """What went wrong, in words, never blank: the exception's message, else its class name, and
    the first message further down its chain that says more. httpx raises ``ReadError('')`` over a
    reset connection; the reset itself is the cause of the exception that httpcore wraps in it.
    ``with_type`` puts the class name in front of a message too ("KeyError: 'x'")."""
    text = str(error).strip()
    cause = _cause_text(error, text)
    if not text:
        text = type(error).__name__
    elif with_type:
        text = f"{type(error).__name__}: {text}"
    return f"{text} ({cause})" if cause else text


def _cause_text(error: BaseException, shown: str) -> str:
    """The first message, breadth first through causes, contexts and wrapped exceptions, that ``shown`` lacks."""
    seen, waiting = {id(error)}, list(_linked(error))
    for _ in range(_CAUSE_DEPTH * 2):
        if not waiting:
            break
        link = waiting.pop(0)
        if id(link) in seen:
            continue
        seen.add(id(link))
        text = str(link).strip()
        if text and text not in shown:
            return text
        waiting.extend(_linked(link))
    return ""


def _linked(error: BaseException) -> list[BaseException]:
    """The exceptions ``error`` stands for: its cause or context, and any it was given as an argument
    (httpcore's ``ReadError(BrokenResourceError())``, re-raised ``from None`` by its pool)."""
    linked = [arg for arg in error.args if isinstance(arg, BaseException)]
    if error.__cause__ is not None:
        linked.append(error.__cause__)
    elif error.__context__ is not None and not error.__suppress_context__:
        linked.append(error.__context__)
    return linked


def without_paths(text: str) -> str:
    """``text`` with each file path cut to its file name, and temp file names replaced by
    ``<file>``: for messages callers see, which must not show where the service keeps its files.
    Not for text that holds URLs."""
    text = _QUOTED_PATH_RE.sub(lambda match: match.group(1) + _public_name(match.group(2)) + match.group(1), text)
    text = _PATH_RE.sub(lambda match: _public_name(match.group(0)), text)
    return _TEMP_NAME_RE.sub(PATH_PLACEHOLDER, text)


def _public_name(path: str) -> str:
    name = path.rstrip("/").rpartition("/")[2]
    return name if name and "tmp" not in name.lower() else PATH_PLACEHOLDER
