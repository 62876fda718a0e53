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
    ├── OperationCancelled           409  the operation was cancelled before it finished
    ├── ConfigurationError           500  settings that cannot work (raised at start-up)
    ├── BackendError                 502  a model backend failed (``stage``, ``backend``, ``shot_id``)
    │   ├── BackendUnavailable       503  configured but unreachable / not ready
    │   ├── BackendTimeout           504  no answer within the per-call timeout
    │   └── InvalidArtifact          502  the backend returned something that is not what it claims
    ├── MediaError                   500  FFmpeg or media handling failed
    │   └── FFmpegNotFound           500  no usable FFmpeg binary
    └── StorageFull                  507  no space left where artifacts are written
"""

from __future__ import annotations


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


class MediaError(Story2VideoError):
    code = "media_error"


class FFmpegNotFound(MediaError):
    code = "ffmpeg_not_found"


class StorageFull(Story2VideoError):
    code = "storage_full"
