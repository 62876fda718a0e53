"""OSS uploads and presigned links through Alibaba's SDK against a fake bucket that checks V4
signatures on its own and refuses V1."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import pytest

from app_api.oss import OssClient, OssConfig, OssPublisher
from story2video.config import Settings
from story2video.errors import BackendError, BackendUnavailable
from story2video.providers.retry import RetryPolicy
from story2video.storage.records import ArtifactRecord
from tests.fakes.oss import BUCKET, REGION

FAST = RetryPolicy(2, base_delay=0.001, max_delay=0.01)


def client_for(oss, *, secret: str | None = None, region: str = REGION, version: str = "v4", expires: int = 3600, base_url: str = "") -> OssClient:
    config = OssConfig(
        oss.endpoint, oss.bucket, oss.key_id, secret or oss.secret, region, version, base_url=base_url, url_expires=expires, prefix="s2v/"
    )
    return OssClient(config, FAST)


def record(kind: str = "video") -> ArtifactRecord:
    key = "cd" * 32
    return ArtifactRecord(key=key, kind=kind, rel_path=f"cd/{key}.mp4", media_type="video/mp4", backend="ffmpeg", model="libx264", duration=1.0, size_bytes=4)


def upload(client: OssClient, name: str = "s2v/a.bin") -> str:
    return asyncio.run(client.put(name, b"x", "application/octet-stream"))


def test_publisher_uploads_with_v4_and_links_are_presigned_and_work(oss, tmp_path):
    path = tmp_path / "video.mp4"
    path.write_bytes(b"mp4!")
    publisher = OssPublisher(client_for(oss))
    remote = asyncio.run(publisher.publish(record(), path))
    assert remote["bucket"] == BUCKET and remote["object"] == f"s2v/cd/{'cd' * 32}.mp4"
    stored = oss.objects[remote["object"]]
    assert (stored.data, stored.content_type) == (b"mp4!", "video/mp4")
    assert ("PUT", remote["object"], 200) in oss.log
    link = publisher.url(remote)
    params = httpx.URL(link).params
    assert link.startswith(f"{oss.endpoint}/{BUCKET}/s2v/cd/")
    assert params["x-oss-signature-version"] == "OSS4-HMAC-SHA256" and params["x-oss-credential"].endswith(f"/{REGION}/oss/aliyun_v4_request")
    assert "OSSAccessKeyId" not in params
    assert httpx.get(link).content == b"mp4!"
    assert {"keyframe", "clip", "segment", "video"} <= publisher.kinds and "narration" not in publisher.kinds


def test_a_tampered_link_is_refused(oss):
    upload(client_for(oss), "s2v/a.bin")
    link = client_for(oss).presigned_get("s2v/a.bin")
    assert httpx.get(link).status_code == 200
    other = link.replace("s2v/a.bin", "s2v/b.bin")
    assert httpx.get(other).status_code == 403
    longer = link.replace("x-oss-expires=3600", "x-oss-expires=7200")
    assert longer != link and httpx.get(longer).status_code == 403


def test_links_expire_after_the_configured_time(oss):
    upload(client_for(oss), "s2v/any.png")
    link = client_for(oss, expires=600).presigned_get("s2v/any.png")
    assert httpx.URL(link).params["x-oss-expires"] == "600"
    assert httpx.get(link).status_code == 200
    oss.clock_offset_s = 601  # ten minutes later, by the server's clock
    answer = httpx.get(link)
    assert answer.status_code == 403 and "expired" in answer.text


def test_links_can_use_the_public_domain(oss):
    link = client_for(oss, base_url="https://cdn.example.com/").presigned_get("s2v/a.png")
    assert link.startswith("https://cdn.example.com/s2v/a.png?") and "x-oss-signature=" in link


def test_a_wrong_secret_fails_loudly_naming_oss_and_the_bucket(oss, tmp_path):
    path = tmp_path / "video.mp4"
    path.write_bytes(b"mp4!")
    with pytest.raises(BackendError) as caught:
        asyncio.run(OssPublisher(client_for(oss, secret="not-the-secret")).publish(record(), path))
    message = caught.value.message
    assert f"bucket '{BUCKET}'" in message and "SignatureDoesNotMatch" in message and "OSS_ACCESS_KEY_SECRET" in message
    assert "not-the-secret" not in message
    assert oss.objects == {}
    bad_link = client_for(oss, secret="not-the-secret").presigned_get("s2v/a.bin")
    assert httpx.get(bad_link).status_code == 403


def test_a_wrong_region_names_oss_region(oss):
    with pytest.raises(BackendError) as caught:
        upload(client_for(oss, region="ap-southeast-1"))
    assert "SignatureDoesNotMatch" in caught.value.message and "OSS_REGION (ap-southeast-1)" in caught.value.message


def test_v1_is_refused_and_the_message_says_so_without_blaming_the_keys(oss):
    client = client_for(oss, version="v1")
    with pytest.raises(BackendError) as caught:
        upload(client)
    message = caught.value.message
    assert "403" in message and "0002-00000080" in message and "signature V1" in message and "OSS_SIGNATURE_VERSION=v4" in message
    assert "check OSS_ACCESS_KEY_ID" not in message
    with pytest.raises(BackendError) as head:
        asyncio.run(client.exists("s2v/a.bin"))
    assert "0002-00000080" in head.value.message
    link = client.presigned_get("s2v/a.bin")
    assert "OSSAccessKeyId=" in link and httpx.get(link).status_code == 403
    assert oss.objects == {}


def test_exists_sees_objects_and_their_absence(oss):
    client = client_for(oss)
    assert asyncio.run(client.exists("s2v/a.bin")) is False
    upload(client, "s2v/a.bin")
    assert asyncio.run(client.exists("s2v/a.bin")) is True


def test_server_errors_are_retried_then_reported(oss):
    oss.fail_next += [500]
    assert upload(client_for(oss), "s2v/a.bin")
    oss.fail_next += [503, 503]
    with pytest.raises(BackendUnavailable) as caught:
        upload(client_for(oss), "s2v/b.bin")
    assert "OSS upload of s2v/b.bin in bucket" in caught.value.message and "503" in caught.value.message


def test_an_unreachable_endpoint_names_the_setting():
    config = OssConfig("http://127.0.0.1:9", BUCKET, "id", "secret", REGION)
    with pytest.raises(BackendUnavailable) as caught:
        asyncio.run(OssClient(config, FAST, timeout=2).put("s2v/a.bin", b"x", "text/plain"))
    assert "cannot reach OSS upload of s2v/a.bin" in caught.value.message and "OSS_ENDPOINT" in caught.value.message


def test_a_skewed_clock_is_named(oss):
    oss.clock_offset_s = 3600
    with pytest.raises(BackendError) as caught:
        upload(client_for(oss))
    assert "RequestTimeTooSkewed" in caught.value.message and "clock" in caught.value.message


def test_virtual_hosted_addressing_for_named_endpoints():
    config = OssConfig("oss-cn-hangzhou.aliyuncs.com", "my-bucket", "id", "secret", "cn-hangzhou")
    link = OssClient(config, FAST).presigned_get("a.png")
    assert link.startswith("https://my-bucket.oss-cn-hangzhou.aliyuncs.com/a.png?")


def oss_settings(**values) -> Settings:
    base = dict(oss_bucket="b", oss_access_key_id="i", oss_access_key_secret="s")
    return Settings(_env_file=None, **{**base, **values})


def test_the_region_is_read_from_the_endpoint_or_required():
    assert oss_settings(oss_endpoint="https://oss-cn-beijing.aliyuncs.com").oss_signing_region == "cn-beijing"
    assert oss_settings(oss_endpoint="oss-ap-southeast-1-internal.aliyuncs.com").oss_signing_region == "ap-southeast-1"
    assert oss_settings(oss_endpoint="https://files.example.com", oss_region="cn-shanghai").oss_signing_region == "cn-shanghai"
    with pytest.raises(ValueError, match="set OSS_REGION"):
        oss_settings(oss_endpoint="https://files.example.com")
    with pytest.raises(ValueError, match="OSS_REGION=cn-shanghai but OSS_ENDPOINT is in cn-beijing"):
        oss_settings(oss_endpoint="https://oss-cn-beijing.aliyuncs.com", oss_region="cn-shanghai")
    with pytest.raises(ValueError, match="not a region ID"):
        oss_settings(oss_endpoint="https://files.example.com", oss_region="Hangzhou!")
    assert oss_settings(oss_endpoint="https://files.example.com", oss_signature_version="v1").oss_signature_version == "v1"
    with pytest.raises(ValueError):
        oss_settings(oss_endpoint="https://oss-cn-beijing.aliyuncs.com", oss_signature_version="v2")


def test_the_sdk_is_imported_only_once_oss_is_configured():
    code = (
        "import sys; import app_api, app_api.oss, app_api.dashscope.backends; "
        "assert 'alibabacloud_oss_v2' not in sys.modules; "
        "from story2video.config import Settings; "
        "app_api.oss.oss_client(Settings(_env_file=None)); assert 'alibabacloud_oss_v2' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_missing_sdk_says_what_to_install(monkeypatch):
    import app_api.oss as module
    from story2video.errors import ConfigurationError

    monkeypatch.setitem(sys.modules, "alibabacloud_oss_v2", None)  # import fails as if not installed
    with pytest.raises(ConfigurationError, match="pip install alibabacloud-oss-v2"):
        module.load_sdk()
