"""OSS uploads and presigned links against a fake bucket that checks the V1 signatures."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac

import httpx
import pytest

from app_api.oss import OssClient, OssConfig, OssPublisher, signature, string_to_sign
from story2video.errors import BackendError, BackendUnavailable
from story2video.providers.retry import RetryPolicy
from story2video.storage.records import ArtifactRecord
from tests.fakes.oss import BUCKET

FAST = RetryPolicy(2, base_delay=0.001, max_delay=0.01)


def client_for(oss, *, secret: str | None = None, expires: int = 3600, base_url: str = "", clock=None) -> OssClient:
    config = OssConfig(oss.endpoint, oss.bucket, oss.key_id, secret or oss.secret, base_url=base_url, url_expires=expires, prefix="s2v/")
    return OssClient(config, FAST, clock=clock) if clock else OssClient(config, FAST)


def record(kind: str = "video") -> ArtifactRecord:
    key = "cd" * 32
    return ArtifactRecord(key=key, kind=kind, rel_path=f"cd/{key}.mp4", media_type="video/mp4", backend="ffmpeg", model="libx264", duration=1.0, size_bytes=4)


def test_string_to_sign_follows_the_v1_layout():
    text = string_to_sign(
        "PUT", "eB5eJF1ptWaXm4bijSPyxw==", "text/html", "Thu, 17 Nov 2005 18:49:58 GMT",
        {"X-OSS-Meta-Author": " foo@example.com ", "X-OSS-Magic": "abracadabra", "Content-Language": "zh"}, "/examplebucket/nelson",
    )
    assert text == (
        "PUT\neB5eJF1ptWaXm4bijSPyxw==\ntext/html\nThu, 17 Nov 2005 18:49:58 GMT\n"
        "x-oss-magic:abracadabra\nx-oss-meta-author:foo@example.com\n/examplebucket/nelson"
    )
    expected = base64.b64encode(hmac.new(b"secret", text.encode(), hashlib.sha1).digest()).decode()
    assert signature("secret", text) == expected


def test_publisher_uploads_and_links_are_presigned_and_work(oss, tmp_path):
    path = tmp_path / "video.mp4"
    path.write_bytes(b"mp4!")
    publisher = OssPublisher(client_for(oss))
    remote = asyncio.run(publisher.publish(record(), path))
    assert remote["bucket"] == BUCKET and remote["object"] == f"s2v/cd/{'cd' * 32}.mp4"
    stored = oss.objects[remote["object"]]
    assert (stored.data, stored.content_type) == (b"mp4!", "video/mp4")
    link = publisher.url(remote)
    assert link.startswith(f"{oss.endpoint}/{BUCKET}/s2v/cd/") and "OSSAccessKeyId=" in link and "Expires=" in link
    assert httpx.get(link).content == b"mp4!"
    assert {"keyframe", "clip", "segment", "video"} <= publisher.kinds and "narration" not in publisher.kinds


def test_links_expire_after_the_configured_time(oss, tmp_path):
    now = [1_000_000.0]
    client = client_for(oss, expires=600, clock=lambda: now[0])
    link = client.presigned_get("s2v/any.png")
    expires = int(httpx.URL(link).params["Expires"])
    assert 1_000_600 <= expires < 1_000_660  # at least the expiry, rounded up to the minute
    assert httpx.get(link).status_code == 403  # 1970s clock: long expired by the fake's real clock


def test_links_can_use_the_public_domain(oss):
    link = client_for(oss, base_url="https://cdn.example.com/").presigned_get("s2v/a.png")
    assert link.startswith("https://cdn.example.com/s2v/a.png?OSSAccessKeyId=")


def test_a_wrong_secret_fails_loudly_naming_oss_and_the_bucket(oss, tmp_path):
    path = tmp_path / "video.mp4"
    path.write_bytes(b"mp4!")
    with pytest.raises(BackendError) as caught:
        asyncio.run(OssPublisher(client_for(oss, secret="not-the-secret")).publish(record(), path))
    message = caught.value.message
    assert f"bucket '{BUCKET}'" in message and "SignatureDoesNotMatch" in message and "OSS_ACCESS_KEY_SECRET" in message
    assert "not-the-secret" not in message
    assert oss.objects == {}


def test_server_errors_are_retried_then_reported(oss, tmp_path):
    oss.fail_next += [500]
    assert asyncio.run(client_for(oss).put("s2v/a.bin", b"x", "application/octet-stream"))
    oss.fail_next += [503, 503]
    with pytest.raises(BackendUnavailable) as caught:
        asyncio.run(client_for(oss).put("s2v/b.bin", b"x", "application/octet-stream"))
    assert "OSS upload of s2v/b.bin in bucket" in caught.value.message


def test_a_skewed_clock_is_named(oss):
    client = client_for(oss, clock=lambda: 1_000_000.0)
    with pytest.raises(BackendError) as caught:
        asyncio.run(client.put("s2v/a.bin", b"x", "application/octet-stream"))
    assert "RequestTimeTooSkewed" in caught.value.message and "clock" in caught.value.message


def test_virtual_hosted_addressing_for_named_endpoints():
    config = OssConfig("oss-cn-hangzhou.aliyuncs.com", "my-bucket", "id", "secret")
    assert OssClient(config, FAST).bucket_url() == "https://my-bucket.oss-cn-hangzhou.aliyuncs.com"
