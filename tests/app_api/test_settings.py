"""The cloud settings: OSS is all or nothing, CosyVoice rates are checked, secrets stay hidden."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from story2video.config import Settings


def test_oss_partly_configured_stops_with_the_missing_names():
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, oss_bucket="b", oss_endpoint="https://oss-cn-hangzhou.aliyuncs.com")
    assert "also set OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET" in str(caught.value)


def test_oss_is_configured_only_with_all_four():
    values = dict(oss_bucket="b", oss_endpoint="e", oss_access_key_id="i", oss_access_key_secret="s", oss_region="cn-hangzhou")
    assert Settings(_env_file=None, **values).oss_configured
    assert not Settings(_env_file=None).oss_configured


def test_sample_rate_from_the_environment_is_checked(monkeypatch):
    monkeypatch.setenv("DASHSCOPE_TTS_SAMPLE_RATE", "24000")
    assert Settings(_env_file=None).dashscope_tts_sample_rate == 24000
    monkeypatch.setenv("DASHSCOPE_TTS_SAMPLE_RATE", "12345")
    with pytest.raises(ValidationError, match="must be one of 8000, 16000, 22050"):
        Settings(_env_file=None)


def test_secrets_are_neither_in_repr_nor_in_validation_errors():
    oss = dict(oss_bucket="b", oss_endpoint="e", oss_access_key_id="i", oss_region="cn-hangzhou")
    settings = Settings(_env_file=None, dashscope_api_key="sk-hidden-1", oss_access_key_secret="oss-hidden-2", **oss)
    assert "sk-hidden-1" not in repr(settings) and "oss-hidden-2" not in repr(settings)
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, dashscope_api_key="sk-hidden-1", oss_access_key_secret="oss-hidden-2")
    assert "sk-hidden-1" not in str(caught.value) and "oss-hidden-2" not in str(caught.value)
