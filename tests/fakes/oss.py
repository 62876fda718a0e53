"""A fake Aliyun OSS bucket on 127.0.0.1 (path-style, as OSS is addressed on an IP endpoint) that
checks every request's V4 signature the way OSS documents it, refuses V1 as OSS now does for new
accounts and buckets (403, EC 0002-00000080), and answers with OSS's XML errors.

- ``PUT /{bucket}/{object}`` and ``HEAD /{bucket}/{object}`` with
  ``Authorization: OSS4-HMAC-SHA256 Credential=<id>/<yyyymmdd>/<region>/oss/aliyun_v4_request,
  [AdditionalHeaders=<h1;h2>,]Signature=<hex>``, ``x-oss-date`` and ``x-oss-content-sha256: UNSIGNED-PAYLOAD``
- ``GET /{bucket}/{object}?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential=..&x-oss-date=..
  &x-oss-expires=<seconds>&x-oss-signature=..`` (a presigned link)

The V4 check, written from OSS's documentation rather than taken from the SDK under test:

    CanonicalRequest = VERB \\n URI-encoded /bucket/object \\n sorted encoded query (without
                       x-oss-signature) \\n "name:value\\n" for content-type, content-md5, x-oss-* and the
                       additional headers, sorted \\n additional header names \\n UNSIGNED-PAYLOAD
    StringToSign     = "OSS4-HMAC-SHA256" \\n timestamp \\n scope \\n hex(sha256(CanonicalRequest))
    SigningKey       = HMAC chain from "aliyun_v4" + secret over date, region, "oss", "aliyun_v4_request"
    Signature        = hex(HMAC-SHA256(SigningKey, StringToSign))
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import re
import time
from dataclasses import dataclass, field
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.asgi_thread import ServerThread

KEY_ID = "LTAI5tFakeKeyId"
SECRET = "fake-oss-secret-NEVER-LOG-ME"
BUCKET = "story-bucket"
REGION = "cn-hangzhou"
SKEW_LIMIT_S = 15 * 60
MAX_LINK_EXPIRES_S = 7 * 24 * 3600
ALGORITHM = "OSS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
V1_REFUSED = ("AccessDenied", "0002-00000080", "V1 signature is no longer supported, please use V4 signature.")
MISMATCH = ("SignatureDoesNotMatch", "0002-00000040", "The request signature we calculated does not match the signature you provided.")
AUTH_HEADER = re.compile(
    r"^OSS4-HMAC-SHA256 Credential=(?P<credential>[^,]+),\s*(?:AdditionalHeaders=(?P<additional>[^,]*),\s*)?Signature=(?P<signature>[0-9a-f]+)$"
)


class Refused(Exception):
    def __init__(self, status: int, code: str, ec: str, message: str):
        super().__init__(message)
        self.response = _error(status, code, message, ec)


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
    region: str = REGION
    clock_offset_s: float = 0.0  # the server's clock runs this far ahead of this machine's
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
            "oss_region": self.region,
            "oss_prefix": prefix,
        }

    def now(self) -> float:
        return time.time() + self.clock_offset_s

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
        try:
            if "x-oss-signature" in request.query_params or "OSSAccessKeyId" in request.query_params:
                self._check_presigned(request)
            else:
                self._check_header_signature(request)
        except Refused as refused:
            return refused.response
        if request.method == "GET":
            stored = self.objects.get(name)
            if stored is None:
                return _error(404, "NoSuchKey", "The specified key does not exist.")
            return Response(stored.data, media_type=stored.content_type)
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

    def _check_header_signature(self, request: Request) -> None:
        authorization = request.headers.get("authorization", "")
        if authorization.startswith("OSS "):
            raise Refused(403, *V1_REFUSED)
        parsed = AUTH_HEADER.match(authorization)
        if parsed is None:
            raise Refused(403, "AccessDenied", "0002-00000201", "The Authorization header is not an OSS4-HMAC-SHA256 signature.")
        timestamp = request.headers.get("x-oss-date", "")
        signed_at = _parse_timestamp(timestamp)
        if abs(self.now() - signed_at) > SKEW_LIMIT_S:
            raise Refused(403, "RequestTimeTooSkewed", "0002-00000504", "The difference between the request time and the current time is too large.")
        if request.headers.get("x-oss-content-sha256") != UNSIGNED:
            raise Refused(400, "InvalidArgument", "0002-00000214", "x-oss-content-sha256 must be UNSIGNED-PAYLOAD.")
        scope = self._scope(parsed["credential"], timestamp)
        additional = [name for name in (parsed["additional"] or "").split(";") if name]
        canonical = self._canonical_request(request, additional, request.headers["x-oss-content-sha256"])
        self._compare(parsed["signature"], timestamp, scope, canonical)

    def _check_presigned(self, request: Request) -> None:
        query = request.query_params
        if "OSSAccessKeyId" in query:
            raise Refused(403, *V1_REFUSED)
        if query.get("x-oss-signature-version") != ALGORITHM:
            raise Refused(400, "InvalidArgument", "0002-00000066", "x-oss-signature-version is invalid.")
        timestamp, expires = query.get("x-oss-date", ""), query.get("x-oss-expires", "")
        signed_at = _parse_timestamp(timestamp)
        if not expires.isdigit() or not 0 < int(expires) <= MAX_LINK_EXPIRES_S:
            raise Refused(400, "InvalidArgument", "0002-00000224", "x-oss-expires must be 1 to 604800 seconds.")
        scope = self._scope(query.get("x-oss-credential", ""), timestamp)
        additional = [name for name in query.get("x-oss-additional-headers", "").split(";") if name]
        canonical = self._canonical_request(request, additional, UNSIGNED)
        self._compare(query.get("x-oss-signature", ""), timestamp, scope, canonical)
        if signed_at + int(expires) < self.now():
            raise Refused(403, "AccessDenied", "0002-00000069", "Request has expired.")

    def _scope(self, credential: str, timestamp: str) -> str:
        key_id, _, scope = credential.partition("/")
        parts = scope.split("/")
        if key_id != self.key_id:
            raise Refused(403, "InvalidAccessKeyId", "0002-00000902", "The OSS Access Key Id you provided does not exist in our records.")
        if len(parts) != 4 or parts[2:] != ["oss", "aliyun_v4_request"] or parts[0] != timestamp[:8]:
            raise Refused(403, *MISMATCH[:2], "The credential scope is not <date>/<region>/oss/aliyun_v4_request for the request's date.")
        if parts[1] != self.region:
            raise Refused(403, *MISMATCH[:2], f"Invalid signing region in the credential: the bucket is in {self.region}.")
        return scope

    def _canonical_request(self, request: Request, additional: list[str], payload: str) -> str:
        uri = _encode(f"/{self.bucket}/{request.path_params['name']}", safe="/")
        pairs = sorted((_encode(k), _encode(v)) for k, v in request.query_params.multi_items() if k != "x-oss-signature")
        query = "&".join(f"{k}={v}" if v else k for k, v in pairs)
        signed = {"content-type", "content-md5", *additional}
        headers = sorted((k, v.strip()) for k, v in request.headers.items() if k in signed or k.startswith("x-oss-"))
        canonical_headers = "".join(f"{k}:{v}\n" for k, v in headers)
        return f"{request.method}\n{uri}\n{query}\n{canonical_headers}\n{';'.join(additional)}\n{payload}"

    def _compare(self, given: str, timestamp: str, scope: str, canonical: str) -> None:
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        string_to_sign = f"{ALGORITHM}\n{timestamp}\n{scope}\n{digest}"
        key = f"aliyun_v4{self.secret}".encode()
        for part in scope.split("/"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, given):
            raise Refused(403, *MISMATCH)


def _encode(text: str, safe: str = "") -> str:
    return quote(text, safe=f"-_.~{safe}")


def _parse_timestamp(timestamp: str) -> float:
    try:
        return calendar.timegm(time.strptime(timestamp, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        raise Refused(403, "AccessDenied", "0002-00000203", "x-oss-date is missing or not yyyymmddThhmmssZ.") from None


def _error(status: int, code: str, message: str, ec: str = "") -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>5F1A2B3C</RequestId><HostId>fake</HostId>"
        f"{f'<EC>{ec}</EC>' if ec else ''}</Error>"
    )
    headers = {"x-oss-err": base64.b64encode(body.encode()).decode()}  # a HEAD answer's error, which has no body
    if ec:
        headers["x-oss-ec"] = ec
    return Response(body, status_code=status, media_type="application/xml", headers=headers)
