"""Aliyun OSS through Alibaba's SDK (``alibabacloud-oss-v2``): uploads, existence checks and presigned
GET links, plus the artifact publisher and the keyframe links built on them.

Requests and links are signed with V4 (OSS4-HMAC-SHA256, scoped to the bucket's region) unless
OSS_SIGNATURE_VERSION=v1; OSS refuses V1 for accounts made since 2025-03-01 and buckets made since
2025-09-01 (403, EC 0002-00000080). The SDK is synchronous: each call runs in a thread, and is retried
by the project's RetryPolicy (the SDK's own retries are off, so there is one policy and one log line
per retry). Buckets are addressed virtual-host style; an endpoint that is an IP address is addressed
path style, OSS_BASE_URL (a domain bound to the bucket) as a CNAME.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Callable, TypeVar

from loguru import logger

from story2video.config import Settings
from story2video.errors import BackendError, BackendUnavailable, ConfigurationError, describe_exception
from story2video.providers.retry import RetryPolicy, is_retryable
from story2video.storage.records import ArtifactRecord

BACKEND = "oss"
PUBLISHED_KINDS = frozenset({"keyframe", "clip", "segment", "video"})
SDK_PACKAGE = "alibabacloud-oss-v2"
MAX_LINK_EXPIRY = timedelta(days=7)  # the longest a V4 link may be valid
V1_REFUSED_EC = "0002-00000080"  # OSS's error code for a request signed with V1 where V1 is off

T = TypeVar("T")


def load_sdk() -> ModuleType:
    """The OSS SDK, imported only once OSS is configured."""
    try:
        import alibabacloud_oss_v2
    except ImportError as error:
        raise ConfigurationError(
            f"OSS_* settings are set but Alibaba's OSS SDK is not installed ({error}): "
            f"pip install {SDK_PACKAGE} (it is in requirements-api.txt), or unset the OSS_* settings"
        ) from error
    return alibabacloud_oss_v2


@dataclass(frozen=True)
class OssConfig:
    endpoint: str
    bucket: str
    access_key_id: str
    access_key_secret: str = field(repr=False)
    region: str = ""
    signature_version: str = "v4"
    base_url: str = ""
    url_expires: int = 3600
    prefix: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> "OssConfig":
        return cls(
            settings.oss_endpoint,
            settings.oss_bucket,
            settings.oss_access_key_id,
            settings.oss_access_key_secret,
            settings.oss_signing_region,
            settings.oss_signature_version,
            settings.oss_base_url,
            settings.oss_url_expires,
            settings.oss_prefix,
        )


class OssClient:
    def __init__(self, config: OssConfig, retry: RetryPolicy, timeout: float = 120.0):
        self.config = config
        self.retry = retry
        self.timeout = timeout
        self.sdk = load_sdk()

    def object_name(self, relative: str) -> str:
        return f"{self.config.prefix}{relative}"

    @cached_property
    def _client(self):
        return self._sdk_client(self.config.endpoint, cname=False)

    @cached_property
    def _link_client(self):
        """Signs links: on OSS_BASE_URL as the bucket's CNAME when set, else on the endpoint."""
        if not self.config.base_url:
            return self._client
        return self._sdk_client(self.config.base_url.rstrip("/"), cname=True)

    def _sdk_client(self, endpoint: str, cname: bool):
        sdk = self.sdk
        config = sdk.config.Config(
            region=self.config.region,
            endpoint=endpoint,
            signature_version=self.config.signature_version,
            credentials_provider=sdk.credentials.StaticCredentialsProvider(self.config.access_key_id, self.config.access_key_secret),
            retryer=sdk.retry.NopRetryer(),
            connect_timeout=self.timeout,
            readwrite_timeout=self.timeout,
            use_cname=cname,
        )
        return sdk.Client(config)

    async def put(self, name: str, data: bytes, content_type: str) -> str:
        """Upload ``data`` as object ``name``; its ETag."""
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        request = self.sdk.PutObjectRequest(
            bucket=self.config.bucket, key=name, body=data, content_type=content_type, content_md5=md5
        )
        result = await self._call("upload of", name, lambda: self._client.put_object(request))
        return (result.etag or "").strip('"')

    async def exists(self, name: str) -> bool:
        request = self.sdk.HeadObjectRequest(bucket=self.config.bucket, key=name)

        def head() -> bool:
            try:
                self._client.head_object(request)
            except self.sdk.exceptions.OperationError as wrapped:
                error = wrapped.unwrap()
                if isinstance(error, self.sdk.exceptions.ServiceError) and error.status_code == 404:
                    return False
                raise
            return True

        return await self._call("check of", name, head)

    def presigned_get(self, name: str, bucket: str | None = None) -> str:
        """A GET link valid for OSS_URL_EXPIRES seconds from now."""
        request = self.sdk.GetObjectRequest(bucket=bucket or self.config.bucket, key=name)
        # The SDK counts whole seconds from its own "now", a moment later: ask for just under one more.
        expires = min(timedelta(seconds=self.config.url_expires + 0.999), MAX_LINK_EXPIRY)
        return self._link_client.presign(request, expires=expires).url

    async def _call(self, action: str, name: str, operation: Callable[[], T]) -> T:
        what = f"OSS {action} {name} in bucket '{self.config.bucket}'"
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return await asyncio.to_thread(operation)
            except self.sdk.exceptions.OperationError as wrapped:
                error = wrapped.unwrap()
            last = attempt == self.retry.attempts
            if isinstance(error, self.sdk.exceptions.ServiceError):
                if last or not is_retryable(error.status_code):
                    raise self._failure(what, error)
                problem = f"HTTP {error.status_code} {error.code}"
            elif isinstance(error, (self.sdk.exceptions.RequestError, self.sdk.exceptions.ResponseError)):
                if last:
                    cause = describe_exception(error.unwrap() or error, with_type=True)
                    problem = f"cannot reach {what} at {self.config.endpoint}: {cause}; check OSS_ENDPOINT"
                    raise BackendUnavailable(problem, backend=BACKEND) from error
                problem = describe_exception(error, with_type=True)
            else:
                raise BackendError(f"{what} failed: {describe_exception(error, with_type=True)}", backend=BACKEND) from error
            wait = self.retry.delay(attempt)
            logger.warning("{} failed ({}); try {}/{} in {:.2f} s", what, problem, attempt + 1, self.retry.attempts, wait)
            await self.retry.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _failure(self, what: str, error) -> BackendError:
        detail = f"{error.status_code} {error.code or 'no code'}"
        if error.ec:
            detail += f", EC {error.ec}"
        text = f"{what} failed ({detail}: {error.message or 'no message'}); {_hint(error.status_code, error.code or '', error.ec or '', self.config)}"
        error_class = BackendUnavailable if error.status_code >= 500 or error.status_code == 429 else BackendError
        return error_class(text, backend=BACKEND)


def _hint(status: int, code: str, ec: str, config: OssConfig) -> str:
    if ec == V1_REFUSED_EC:
        return (
            "this bucket or account refuses signature V1 (Alibaba Cloud turned V1 off for new accounts and buckets); "
            "set OSS_SIGNATURE_VERSION=v4 (the default) and OSS_REGION to the bucket's region. The keys are not the problem"
        )
    if code == "RequestTimeTooSkewed":
        return "this machine's clock is off by more than 15 minutes: synchronise it"
    if code == "SignatureDoesNotMatch" and config.signature_version == "v4":
        return (
            f"check OSS_ACCESS_KEY_SECRET, and that OSS_REGION ({config.region}) is the bucket's region "
            "(V4 signatures are scoped to the region)"
        )
    if code in ("SignatureDoesNotMatch", "InvalidAccessKeyId") or status == 403:
        return "check OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET and that the key may write to this bucket"
    if code == "NoSuchBucket" or status == 404:
        return "check OSS_BUCKET and that OSS_ENDPOINT is the bucket's region"
    return "check OSS_ENDPOINT and the bucket; try again later"


class OssPublisher:
    """Puts finished keyframes, clips, segments and videos in the bucket; links are presigned per response."""

    name = BACKEND
    kinds = PUBLISHED_KINDS

    def __init__(self, client: OssClient):
        self.client = client

    async def publish(self, record: ArtifactRecord, path: Path) -> dict:
        name = self.client.object_name(record.rel_path)
        data = await asyncio.to_thread(path.read_bytes)
        etag = await self.client.put(name, data, record.media_type)
        return {"bucket": self.client.config.bucket, "object": name, "etag": etag}

    def url(self, remote: dict) -> str:
        return self.client.presigned_get(remote["object"], remote.get("bucket"))


class OssKeyframeLinks:
    """Keyframes handed to image-to-video as presigned OSS links (uploaded unless already published)."""

    def __init__(self, client: OssClient):
        self.client = client

    async def link(self, keyframe: Path) -> str:
        name = self.client.object_name(f"{keyframe.parent.name}/{keyframe.name}")  # the artifact store's layout
        if not await self.client.exists(name):
            kind = "image/jpeg" if keyframe.suffix.lower() in (".jpg", ".jpeg") else "image/png"
            await self.client.put(name, await asyncio.to_thread(keyframe.read_bytes), kind)
        return self.client.presigned_get(name)


def oss_client(settings: Settings) -> OssClient | None:
    if not settings.oss_configured:
        return None
    return OssClient(OssConfig.from_settings(settings), RetryPolicy.from_settings(settings), settings.dashscope_request_timeout_s)
