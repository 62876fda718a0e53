"""CosyVoice narration over DashScope's WebSocket protocol, written as WAV s16le mono."""

from __future__ import annotations

import asyncio
import wave

import pytest

from app_api.dashscope.backends import DashScopeKit, websocket_url
from app_api.dashscope.errors import ContentRejected
from app_api.dashscope.tones import prosody_for
from story2video.errors import BackendError, BackendUnavailable, ConfigurationError
from story2video.media.fonts import resolve_cjk_font
from story2video.media.subtitles import SubtitleFrame, split_spoken
from story2video.providers.base import SpeechRequest, StageContext, VoiceHints
from tests.fakes.dashscope import MARKER, SECONDS_PER_CHAR, VOICES, Canned, error_body, word_timestamps

TEXT = "清晨，小镇的钟声响起，少女林夏推开木窗。"


def speak(kit, dest, **changes):
    request = SpeechRequest(**{"text": TEXT, **changes})
    return asyncio.run(kit.speech().synthesize(request, dest, StageContext()))


def test_speaks_over_the_websocket_and_writes_mono_s16_wav(kit, dashscope, tmp_path):
    result = speak(kit, tmp_path / "n.wav", tone="欢快")
    with wave.open(str(tmp_path / "n.wav"), "rb") as audio:
        assert (audio.getnchannels(), audio.getsampwidth(), audio.getframerate()) == (1, 2, 22050)
        frames = audio.getnframes()
    expected = len(TEXT) * SECONDS_PER_CHAR / prosody_for("欢快", 1.0).rate
    assert result.duration == pytest.approx(frames / 22050) == pytest.approx(expected, abs=0.01)
    assert (result.sample_rate, result.voice) == (22050, "longxiaochun_v2")
    run = dashscope.tts_runs[0]
    assert run["header"]["action"] == "run-task" and run["header"]["streaming"] == "duplex"
    assert run["payload"]["model"] == "cosyvoice-v2"
    parameters = run["payload"]["parameters"]
    assert parameters["voice"] == "longxiaochun_v2" and parameters["format"] == "pcm" and parameters["sample_rate"] == 22050
    assert (parameters["rate"], parameters["pitch"]) == (1.08, 1.06)  # a joyful tone speaks faster and higher
    assert dashscope.tts_texts == [TEXT]


def test_voice_speed_format_and_rate_come_from_request_and_settings(cloud_settings, dashscope, tmp_path):
    kit = DashScopeKit(cloud_settings(dashscope_tts_format="wav", dashscope_tts_sample_rate=16000))
    result = speak(kit, tmp_path / "n.wav", voice="longwan_v2", speed=1.5, tone="calm")
    parameters = dashscope.tts_runs[0]["payload"]["parameters"]
    assert (parameters["voice"], parameters["format"], parameters["sample_rate"]) == ("longwan_v2", "wav", 16000)
    assert parameters["rate"] == pytest.approx(0.95 * 1.5)
    with wave.open(str(tmp_path / "n.wav"), "rb") as audio:
        assert (audio.getnchannels(), audio.getsampwidth(), audio.getframerate()) == (1, 2, 16000)
    assert result.voice == "longwan_v2"


def test_a_refused_handshake_with_429_is_retried(kit, dashscope, tmp_path):
    dashscope.tts_denials.append(Canned(429, error_body("Throttling", "too many connections"), {"Retry-After": "0"}))
    speak(kit, tmp_path / "n.wav")
    assert len(dashscope.tts_runs) == 1 and (tmp_path / "n.wav").is_file()


def test_a_throttled_task_is_retried(kit, dashscope, tmp_path):
    dashscope.tts_failures.append({"error_code": "Throttling.RateQuota", "error_message": "rate limit"})
    speak(kit, tmp_path / "n.wav")
    assert len(dashscope.tts_texts) == 2


def test_a_bad_key_fails_at_the_handshake_without_retries(cloud_settings, dashscope, tmp_path):
    kit = DashScopeKit(cloud_settings(dashscope_api_key="sk-not-the-key"))
    with pytest.raises(BackendUnavailable) as caught:
        speak(kit, tmp_path / "n.wav")
    assert caught.value.message.startswith("DASHSCOPE_API_KEY was rejected (401 InvalidApiKey")
    assert "sk-not-the-key" not in caught.value.message
    assert dashscope.tts_runs == []


def test_an_unknown_voice_fails_with_the_settings_to_check(kit, dashscope, tmp_path):
    with pytest.raises(BackendError) as caught:
        speak(kit, tmp_path / "n.wav", voice="nobody")
    assert "InvalidParameter: voice nobody not found" in caught.value.message
    assert "DASHSCOPE_TTS_VOICE" in caught.value.message


def test_moderated_narration_fails_clearly(kit, dashscope, tmp_path):
    with pytest.raises(ContentRejected) as caught:
        speak(kit, tmp_path / "n.wav", text=f"{MARKER} words")
    assert "narration" in caught.value.message and "DataInspectionFailed" in caught.value.message
    assert len(dashscope.tts_texts) == 1  # not retried: only a person can reword narration


def test_a_dead_endpoint_is_reported_after_the_retries(cloud_settings, tmp_path):
    kit = DashScopeKit(cloud_settings(dashscope_ws_url="ws://127.0.0.1:9/api-ws/v1/inference"))
    with pytest.raises(BackendUnavailable) as caught:
        speak(kit, tmp_path / "n.wav")
    assert "DASHSCOPE_WS_URL" in caught.value.message


def test_websocket_url_follows_the_base_url(cloud_settings):
    assert websocket_url(cloud_settings(dashscope_base_url="https://dashscope-intl.aliyuncs.com")) == "wss://dashscope-intl.aliyuncs.com/api-ws/v1/inference"


@pytest.mark.parametrize(("tone", "speed", "rate", "pitch"), [("悲伤", 1.0, 0.9, 0.95), ("unheard-of", 1.0, 1.0, 1.0), ("Tense", 2.0, 2.0, 1.02)])
def test_tone_maps_to_bounded_prosody(tone, speed, rate, pitch):
    prosody = prosody_for(tone, speed)
    assert (prosody.rate, prosody.pitch) == (rate, pitch)


def test_word_timestamps_are_asked_for_and_returned(kit, dashscope, tmp_path):
    result = speak(kit, tmp_path / "n.wav")
    assert dashscope.tts_runs[0]["payload"]["parameters"]["word_timestamp_enabled"] is True
    with wave.open(str(tmp_path / "n.wav"), "rb") as audio:
        sent = word_timestamps(TEXT, audio.getnframes() * 1000 // audio.getframerate())
    assert [(w.text, w.start, w.end) for w in result.words] == [(w["text"], w["begin_time"] / 1000, w["end_time"] / 1000) for w in sent]
    assert result.words[0].text == "清" and result.words[-1].end == pytest.approx(result.duration, abs=0.01)


def test_cues_follow_the_word_timestamps_dashscope_sent(kit, dashscope, tmp_path):
    result = speak(kit, tmp_path / "n.wav")
    words = [(w.text, w.start, w.end) for w in result.words]
    cues, timed = split_spoken(TEXT, words, 0.0, result.duration, SubtitleFrame(180, 320).line_rule(resolve_cjk_font()), max_lines=1)
    assert timed and len(cues) >= 2
    assert [cue.start for cue in cues] == [next(w.start for w in result.words if cue.text.startswith(w.text) and w.start >= cue.start) for cue in cues]
    assert cues[0].start == result.words[0].start and cues[-1].end == result.words[-1].end


def test_characters_get_distinct_voices_of_the_model(kit):
    speech = kit.speech()
    taken = [""]
    chosen = []
    for gender in ("female", "female", "male", "male"):
        voice = speech.voice_for(VoiceHints(gender=gender), taken)
        taken.append(voice)
        chosen.append(voice)
    assert len(set(chosen)) == 4 and "longxiaochun_v2" not in chosen  # the narrator's default voice stays the narrator's
    assert all(voice in VOICES for voice in chosen)
    assert speech.voice_for(VoiceHints(gender="male", age="child"), []) == "longjielidou_v2"


def test_character_voices_come_from_the_setting(cloud_settings):
    kit = DashScopeKit(cloud_settings(dashscope_character_voices={"female": ["longhua_v2"], "male": ["longshu_v2"]}))
    assert kit.speech().voice_for(VoiceHints(gender="male"), []) == "longshu_v2"
    with pytest.raises(ConfigurationError, match="DASHSCOPE_CHARACTER_VOICES: unknown keys"):
        DashScopeKit(cloud_settings(dashscope_character_voices={"women": ["longhua_v2"]})).speech()
