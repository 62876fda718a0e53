from __future__ import annotations

import asyncio
import socket
import wave

import pytest

from app_local.cosyvoice import CosyVoiceSpeechSynthesizer
from story2video.errors import BackendError, BackendUnavailable, InvalidArtifact
from story2video.providers.base import SpeechRequest, StageContext
from tests.conftest import small_settings
from tests.fakes.cosyvoice import SECONDS_PER_CHAR, FakeCosyVoice

TEXT = "她终于听见了海浪的声音。"


@pytest.fixture
def fake(httpserver):
    return FakeCosyVoice(httpserver, rate=24000)


def synth(tmp_path, url: str, **overrides) -> CosyVoiceSpeechSynthesizer:
    return CosyVoiceSpeechSynthesizer(small_settings(tmp_path, cosyvoice_url=url, cosyvoice_sample_rate=24000, **overrides))


def speak(s: CosyVoiceSpeechSynthesizer, dest, **request):
    return asyncio.run(s.synthesize(SpeechRequest(text=TEXT, **request), dest, StageContext()))


def test_pcm_stream_becomes_a_wav_with_measured_duration(tmp_path, fake):
    dest = tmp_path / "n.wav"
    result = speak(synth(tmp_path, fake.url), dest)
    with wave.open(str(dest), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 24000)
        assert result.duration == pytest.approx(wav.getnframes() / 24000)
    assert result.duration == pytest.approx(len(TEXT) * SECONDS_PER_CHAR, abs=0.01)
    assert fake.requests == [{"tts_text": TEXT, "spk_id": "中文女"}]


def test_voice_and_speed_are_honoured(tmp_path, fake):
    normal = speak(synth(tmp_path, fake.url), tmp_path / "a.wav", voice="英文男")
    faster = speak(synth(tmp_path, fake.url), tmp_path / "b.wav", voice="英文男", speed=2.0)
    assert fake.requests[0]["spk_id"] == "英文男"
    assert faster.duration == pytest.approx(normal.duration / 2, rel=0.05)


def test_server_error_and_empty_audio_fail_loudly(tmp_path, fake):
    with pytest.raises(BackendError) as failed:
        speak(synth(tmp_path, fake.url), tmp_path / "x.wav", voice="nobody")
    assert "500" in failed.value.message and fake.url in failed.value.message
    fake.silent = True
    with pytest.raises(InvalidArtifact):
        speak(synth(tmp_path, fake.url), tmp_path / "y.wav")


def test_unreachable_server_is_named(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    s = synth(tmp_path, url)
    with pytest.raises(BackendUnavailable) as failed:
        speak(s, tmp_path / "z.wav")
    assert url in failed.value.message
    assert asyncio.run(s.status()).ready is False


def test_status_ready_when_server_answers(tmp_path, fake):
    status = asyncio.run(synth(tmp_path, fake.url).status())
    assert status.ready and status.location == fake.url
