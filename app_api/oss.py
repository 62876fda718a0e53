"""Aliyun OSS over its REST API with signature V1 (HMAC-SHA1): uploads, existence checks and
presigned GET links, plus the artifact publisher and the keyframe links built on them.

    Authorization: OSS <AccessKeyId>:base64(hmac_sha1(secret, VERB \\n Content-MD5 \\n Content-Type \\n
                   Date \\n CanonicalizedOSSHeaders CanonicalizedResource))
    presigned:     ?OSSAccessKeyId=..&Expires=<unix time>&Signature=.. signed over the same string with
                   Expires in place of Date

Buckets are addressed virtual-host style (``https://<bucket>.<endpoint>/<object>``); an endpoint
that is an IP address or localhost is addressed path style (``http://<ip>/<bucket>/<object>``),
as the official SDK does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import math
import re
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Callable
from urllib.parse import quote, urlsplit

import httpx

from story2video.config import Settings
from story2video.errors import BackendError, BackendUnavailable, describe_exception
from story2video.providers.retry import RetryPolicy, send_with_retries
from story2video.storage.records import ArtifactRecord

BACKEND = "oss"
EXPIRY_STEP_S = 60  # links made within one minute are identical (cacheable), and valid >= the expiry
PUBLISHED_KINDS = frozenset({"keyframe", "clip", "segment", "video"})


@dataclass(frozen=True)
class OssConfig:
    endpoint: str
    bucket: str
    access_key_id: str
    access_key_secret: str = field(repr=False)
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
            settings.oss_base_url,
            settings.oss_url_expires,
            settings.oss_prefix,
        )


def string_to_sign(verb: str, content_md5: str, content_type: str, date: str, headers: dict[str, str], resource: str) -> str:
    oss_headers = sorted((k.lower().strip(), v.strip()) for k, v in headers.items() if k.lower().startswith("x-oss-"))
    canonical = "".join(f"{name}:{value}\n" for name, value in oss_headers)
    return f"{verb}\n{content_md5}\n{content_type}\n{date}\n{canonical}{resource}"


def signature(secret: str, text: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()).decode()


class OssClient:
    def __init__(self, config: OssConfig, retry: RetryPolicy, timeout: float = 120.0, clock: Callable[[], float] = time.time):
        self.config = config
        self.retry = retry
        self.timeout = timeout
        self._clock = clock
        self._tls = httpx.create_ssl_context()
        parts = urlsplit(config.endpoint if "://" in config.endpoint else f"https://{config.endpoint}")
        self._scheme, self._host = parts.scheme, parts.netloc
        self._path_style = _is_ip_or_localhost(parts.hostname or "")

    def object_name(self, relative: str) -> str:
        return f"{self.config.prefix}{relative}"

    def bucket_url(self, bucket: str | None = None) -> str:
        bucket = bucket or self.config.bucket
        if self._path_style:
            return f"{self._scheme}://{self._host}/{bucket}"
        return f"{self._scheme}://{bucket}.{self._host}"

    async def put(self, name: str, data: bytes, content_type: str) -> str:
        """Upload ``data`` as object ``name``; its ETag."""
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        headers = {"Content-MD5": md5, "Content-Type": content_type}
        response = await self._send("PUT", name, headers, content=data)
        if response.status_code != 200:
            raise self._failure("upload of", name, response)
        return response.headers.get("ETag", "").strip('"')

    async def exists(self, name: str) -> bool:
        response = await self._send("HEAD", name, {})
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise self._failure("check of", name, response)
        return True

    def presigned_get(self, name: str, bucket: str | None = None) -> str:
        bucket = bucket or self.config.bucket
        expires = math.ceil((self._clock() + self.config.url_expires) / EXPIRY_STEP_S) * EXPIRY_STEP_S
        signed = signature(self.config.access_key_secret, string_to_sign("GET", "", "", str(expires), {}, f"/{bucket}/{name}"))
        base = self.config.base_url.rstrip("/") or self.bucket_url(bucket)
        query = f"OSSAccessKeyId={quote(self.config.access_key_id, safe='')}&Expires={expires}&Signature={quote(signed, safe='')}"
        return f"{base}/{quote(name)}?{query}"

    async def _send(self, verb: str, name: str, headers: dict[str, str], content: bytes | None = None) -> httpx.Response:
        date = formatdate(self._clock(), usegmt=True)
        resource = f"/{self.config.bucket}/{name}"
        text = string_to_sign(verb, headers.get("Content-MD5", ""), headers.get("Content-Type", ""), date, headers, resource)
        auth = f"OSS {self.config.access_key_id}:{signature(self.config.access_key_secret, text)}"
        url = f"{self.bucket_url()}/{quote(name)}"
        what = f"OSS {verb} {name} in bucket '{self.config.bucket}'"
        try:
            async with httpx.AsyncClient(timeout=self.timeout, verify=self._tls) as http:
                return await send_with_retries(
                    lambda: http.request(verb, url, headers={**headers, "Date": date, "Authorization": auth}, content=content),
                    self.retry,
                    what,
                )
        except httpx.TransportError as error:
            problem = f"cannot reach {what} at {self.config.endpoint}: {describe_exception(error, with_type=True)}; check OSS_ENDPOINT"
            raise BackendUnavailable(problem, backend=BACKEND) from error

    def _failure(self, action: str, name: str, response: httpx.Response) -> BackendError:
        code, message = _xml_field(response.text, "Code"), _xml_field(response.text, "Message")
        detail = f"{response.status_code} {code or 'no code'}: {message or 'no message'}"
        text = f"OSS {action} {name} in bucket '{self.config.bucket}' failed ({detail}); {_hint(response.status_code, code)}"
        error_class = BackendUnavailable if response.status_code >= 500 or response.status_code == 429 else BackendError
        return error_class(text, backend=BACKEND)


def _hint(status: int, code: str) -> str:
    if code == "RequestTimeTooSkewed":
        return "this machine's clock is off by more than 15 minutes: synchronise it"
    if code in ("SignatureDoesNotMatch", "InvalidAccessKeyId") or status == 403:
        return "check OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET and that the key may write to this bucket"
    if code == "NoSuchBucket" or status == 404:
        return "check OSS_BUCKET and that OSS_ENDPOINT is the bucket's region"
    return "check OSS_ENDPOINT and the bucket; try again later"


def _xml_field(text: str, name: str) -> str:
    match = re.search(rf"<{name}>(.*?)</{name}>", text, flags=re.DOTALL)
    return match.group(1).strip() if match else ""


def _is_ip_or_localhost(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


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
