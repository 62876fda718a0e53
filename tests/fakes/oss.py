"""A fake Aliyun OSS bucket on 127.0.0.1 (path-style, as OSS is addressed on an IP endpoint) that
checks every request's V1 signature the way OSS does, and answers with OSS's XML errors.

- ``PUT /{bucket}/{object}`` with ``Authorization: OSS id:signature``, ``Date`` and ``Content-MD5``
- ``HEAD /{bucket}/{object}`` likewise signed
- ``GET /{bucket}/{object}?OSSAccessKeyId=&Expires=&Signature=`` (a presigned link)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.asgi_thread import ServerThread

KEY_ID = "LTAI5tFakeKeyId"
SECRET = "fake-oss-secret-NEVER-LOG-ME"
BUCKET = "story-bucket"
SKEW_LIMIT_S = 15 * 60


@dataclass
class StoredObject:
    data: bytes
    content_type: str
    etag: str


@dataclass
class FakeOss:
    bucket: str = BUCKET
    key_id: str = KEY_ID
    secret: str = SECRET
    objects: dict[str, StoredObject] = field(default_factory=dict)
    log: list[tuple[str, str, int]] = field(default_factory=list)  # (method, object, status)
    fail_next: list[int] = field(default_factory=list)  # statuses to answer next, whatever the request

    def __post_init__(self) -> None:
        app = Starlette(routes=[Route("/{bucket}/{name:path}", self._handle, methods=["GET", "HEAD", "PUT"])])
        self.server = ServerThread(app)

    @property
    def endpoint(self) -> str:
        return self.server.url

    def start(self) -> "FakeOss":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def settings(self, prefix: str = "s2v/") -> dict:
        return {
            "oss_endpoint": self.endpoint,
            "oss_bucket": self.bucket,
            "oss_access_key_id": self.key_id,
            "oss_access_key_secret": self.secret,
            "oss_prefix": prefix,
        }

    async def _handle(self, request: Request) -> Response:
        name = request.path_params["name"]
        response = await self._answer(request, name)
        self.log.append((request.method, name, response.status_code))
        return response

    async def _answer(self, request: Request, name: str) -> Response:
        if self.fail_next:
            return _error(self.fail_next.pop(0), "InternalError", "We encountered an internal error.")
        if request.path_params["bucket"] != self.bucket:
            return _error(404, "NoSuchBucket", "The specified bucket does not exist.")
        if request.method == "GET":
            return self._presigned_get(request, name)
        problem = self._header_signature_problem(request, name)
        if problem:
            return problem
        if request.method == "HEAD":
            stored = self.objects.get(name)
            return Response(status_code=200 if stored else 404, headers={"ETag": f'"{stored.etag}"'} if stored else {})
        return await self._put(request, name)

    async def _put(self, request: Request, name: str) -> Response:
        data = await request.body()
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        if request.headers.get("content-md5") != md5:
            return _error(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
        etag = hashlib.md5(data).hexdigest().upper()
        self.objects[name] = StoredObject(data, request.headers.get("content-type", ""), etag)
        return Response(status_code=200, headers={"ETag": f'"{etag}"'})

    def _header_signature_problem(self, request: Request, name: str) -> Response | None:
        date = request.headers.get("date", "")
        try:
            skew = abs(time.time() - parsedate_to_datetime(date).timestamp())
        except (TypeError, ValueError):
            return _error(403, "AccessDenied", "Date header is missing or invalid.")
        if skew > SKEW_LIMIT_S:
            return _error(403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.")
        oss_headers = sorted((k, v.strip()) for k, v in request.headers.items() if k.startswith("x-oss-"))
        canonical = "".join(f"{k}:{v}\n" for k, v in oss_headers)
        md5, content_type = request.headers.get("content-md5", ""), request.headers.get("content-type", "")
        text = f"{request.method}\n{md5}\n{content_type}\n{date}\n{canonical}/{self.bucket}/{name}"
        if request.headers.get("authorization") != f"OSS {self.key_id}:{self._sign(text)}":
            return _error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
        return None

    def _presigned_get(self, request: Request, name: str) -> Response:
        query = request.query_params
        expires = query.get("Expires", "")
        text = f"GET\n\n\n{expires}\n/{self.bucket}/{name}"
        if query.get("OSSAccessKeyId") != self.key_id or query.get("Signature") != self._sign(text):
            return _error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
        if not expires.isdigit() or int(expires) < time.time():
            return _error(403, "AccessDenied", "Request has expired.")
        stored = self.objects.get(name)
        if stored is None:
            return _error(404, "NoSuchKey", "The specified key does not exist.")
        return Response(stored.data, media_type=stored.content_type)

    def _sign(self, text: str) -> str:
        return base64.b64encode(hmac.new(self.secret.encode(), text.encode(), hashlib.sha1).digest()).decode()


def _error(status: int, code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>5F1A2B3C</RequestId><HostId>fake</HostId></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml")
