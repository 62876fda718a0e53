from __future__ import annotations

import asyncio
import socket
import wave

import pytest

from app_local.cosyvoice import CosyVoiceSpeechSynthesizer, zero_shot_call
from story2video.errors import BackendError, BackendUnavailable, ConfigurationError, InvalidArtifact
from story2video.providers.base import SpeechRequest, StageContext, VoiceHints
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


def test_an_unknown_speaker_fails_mid_stream_and_the_error_says_why(tmp_path, fake):
    with pytest.raises(BackendError) as failed:
        speak(synth(tmp_path, fake.url), tmp_path / "x.wav", voice="nobody")
    message = failed.value.message
    assert not isinstance(failed.value, (BackendUnavailable, InvalidArtifact))
    assert fake.url in message and "failed mid-stream, after answering 200" in message and "after 0 bytes" in message
    assert "no speaker 'nobody'" in message and "COSYVOICE_PROMPT_WAV" in message
    assert not (tmp_path / "x.wav").exists()
    fake.silent = True
    with pytest.raises(InvalidArtifact):
        speak(synth(tmp_path, fake.url), tmp_path / "y.wav")


def test_a_failure_after_some_audio_is_a_cut_off_stream(tmp_path, fake, prompt_wav):
    fake.fail_after_s = 0.25
    s = synth(tmp_path, fake.url, cosyvoice_prompt_wav=prompt_wav, cosyvoice_prompt_text="你好。")
    with pytest.raises(BackendError) as failed:
        speak(s, tmp_path / "n.wav")
    message = failed.value.message
    assert "cut off its audio stream (/inference_zero_shot) after 12000 bytes" in message and "failed mid-stream" in message
    assert "no speaker" not in message


def test_the_defaults_fit_the_upstream_servers_default_model(tmp_path, fake):
    settings = small_settings(tmp_path, cosyvoice_url=fake.url)  # the fake streams at 24 kHz, as CosyVoice2-0.5B does
    assert settings.cosyvoice_sample_rate == 24000
    result = speak(CosyVoiceSpeechSynthesizer(settings), tmp_path / "n.wav")
    assert result.sample_rate == 24000
    assert result.duration == pytest.approx(len(TEXT) * SECONDS_PER_CHAR, abs=0.01)


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


# ---------------------------------------------------------------- endpoints chosen by settings

PROMPT_BYTES = b"RIFF\x24\x00\x00\x00WAVEfake-prompt-clip"


@pytest.fixture
def prompt_wav(tmp_path):
    path = tmp_path / "voice.wav"
    path.write_bytes(PROMPT_BYTES)
    return path


def test_sft_is_used_without_a_prompt_clip(tmp_path, fake):
    s = synth(tmp_path, fake.url, cosyvoice_instruct=True)
    speak(s, tmp_path / "n.wav", tone="温柔")
    assert s.model == "cosyvoice-sft"
    assert [c["endpoint"] for c in fake.calls] == ["/inference_sft"]


def test_prompt_clip_and_transcript_use_zero_shot(tmp_path, fake, prompt_wav):
    s = synth(tmp_path, fake.url, cosyvoice_prompt_wav=prompt_wav, cosyvoice_prompt_text="希望你以后能够做的比我还好呦。")
    dest = tmp_path / "n.wav"
    result = speak(s, dest, tone="温柔")
    (call,) = fake.calls
    assert call["endpoint"] == "/inference_zero_shot"
    assert call["form"] == {"tts_text": TEXT, "prompt_text": "希望你以后能够做的比我还好呦。"}
    assert call["prompt_wav"] == PROMPT_BYTES
    assert s.model.startswith("cosyvoice-zero-shot:")
    assert result.duration == pytest.approx(len(TEXT) * SECONDS_PER_CHAR, abs=0.01)
    assert result.voice == "prompt:voice.wav"


def test_instruct_sends_the_tone_as_instruction(tmp_path, fake, prompt_wav):
    s = synth(tmp_path, fake.url, cosyvoice_prompt_wav=prompt_wav, cosyvoice_instruct=True)
    speak(s, tmp_path / "a.wav", tone="悲伤")
    asyncio.run(s.synthesize(SpeechRequest(text="The sea was calm.", tone="hopeful"), tmp_path / "b.wav", StageContext()))
    first, second = fake.calls
    assert first["endpoint"] == second["endpoint"] == "/inference_instruct2"
    assert first["form"] == {"tts_text": TEXT, "instruct_text": "用悲伤的语气说这句话<|endofprompt|>"}
    assert second["form"]["instruct_text"] == "Speak in a hopeful tone.<|endofprompt|>"
    assert first["prompt_wav"] == second["prompt_wav"] == PROMPT_BYTES
    assert s.model.startswith("cosyvoice-instruct2:")


def test_the_end_of_prompt_mark_can_be_left_to_an_older_server(tmp_path, fake, prompt_wav):
    s = synth(tmp_path, fake.url, cosyvoice_prompt_wav=prompt_wav, cosyvoice_instruct=True, cosyvoice_end_of_prompt=False)
    speak(s, tmp_path / "a.wav", tone="悲伤")
    assert fake.calls[0]["form"]["instruct_text"] == "用悲伤的语气说这句话"


def test_instruct_without_a_tone_falls_back(tmp_path, fake, prompt_wav):
    s = synth(tmp_path, fake.url, cosyvoice_prompt_wav=prompt_wav, cosyvoice_prompt_text="你好。", cosyvoice_instruct=True)
    speak(s, tmp_path / "n.wav")
    assert fake.calls[0]["endpoint"] == "/inference_zero_shot"


def test_model_name_changes_with_the_mode(tmp_path, prompt_wav):
    names = {
        synth(tmp_path, "http://x").model,
        synth(tmp_path, "http://x", cosyvoice_prompt_wav=prompt_wav, cosyvoice_prompt_text="a").model,
        synth(tmp_path, "http://x", cosyvoice_prompt_wav=prompt_wav, cosyvoice_prompt_text="b").model,
        synth(tmp_path, "http://x", cosyvoice_prompt_wav=prompt_wav, cosyvoice_instruct=True).model,
        synth(tmp_path, "http://x", cosyvoice_api="openai").model,
    }
    assert len(names) == 5
    assert "cosyvoice-openai:cosyvoice" in names


def test_missing_prompt_clip_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError) as failed:
        synth(tmp_path, "http://x", cosyvoice_prompt_wav=tmp_path / "nope.wav", cosyvoice_prompt_text="a")
    assert "COSYVOICE_PROMPT_WAV" in failed.value.message


# ---------------------------------------------------------------- failures of the stream


def test_empty_reply_is_invalid_artifact(tmp_path, fake, prompt_wav):
    fake.silent = True
    with pytest.raises(InvalidArtifact) as failed:
        speak(synth(tmp_path, fake.url, cosyvoice_prompt_wav=prompt_wav, cosyvoice_prompt_text="a"), tmp_path / "n.wav")
    assert "returned no audio" in failed.value.message


def test_truncated_stream_is_reported_as_cut_off(tmp_path, fake):
    fake.truncated = True
    with pytest.raises(BackendError) as failed:
        speak(synth(tmp_path, fake.url), tmp_path / "n.wav")
    assert not isinstance(failed.value, BackendUnavailable)
    assert "cut off" in failed.value.message and fake.url in failed.value.message
    assert "RemoteProtocolError" in failed.value.message
    assert not (tmp_path / "n.wav").exists()


def test_stream_ending_mid_sample_is_reported_as_cut_off(tmp_path, fake):
    fake.odd_bytes = True
    with pytest.raises(BackendError) as failed:
        speak(synth(tmp_path, fake.url), tmp_path / "n.wav")
    assert not isinstance(failed.value, (BackendUnavailable, InvalidArtifact))
    assert "cut off" in failed.value.message


def test_refused_connection_names_the_url_for_every_endpoint(tmp_path, prompt_wav):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for overrides in ({"cosyvoice_prompt_wav": prompt_wav, "cosyvoice_prompt_text": "a"}, {"cosyvoice_api": "openai"}):
        with pytest.raises(BackendUnavailable) as failed:
            speak(synth(tmp_path, url, **overrides), tmp_path / "z.wav")
        assert url in failed.value.message and "COSYVOICE_URL" in failed.value.message


def test_zero_shot_422_is_a_backend_error(tmp_path, fake, prompt_wav):
    s = synth(tmp_path, fake.url, cosyvoice_prompt_wav=prompt_wav, cosyvoice_prompt_text="a")
    call = zero_shot_call(TEXT, "", prompt_wav)
    call.form.pop("prompt_text")
    with pytest.raises(BackendError) as failed:
        asyncio.run(s._fetch_pcm(call))  # noqa: SLF001
    assert "422" in failed.value.message and "/inference_zero_shot" in failed.value.message


# ---------------------------------------------------------------- OpenAI-style /v1/audio/speech


def test_openai_client_sends_json_and_parses_the_wav(tmp_path, fake):
    s = synth(tmp_path, fake.url, cosyvoice_api="openai", cosyvoice_openai_model="CosyVoice2-0.5B")
    dest = tmp_path / "n.wav"
    result = speak(s, dest, voice="英文男", speed=1.5)
    assert fake.calls == [
        {
            "endpoint": "/v1/audio/speech",
            "json": {"model": "CosyVoice2-0.5B", "input": TEXT, "voice": "英文男", "response_format": "wav", "speed": 1.5},
        }
    ]
    with wave.open(str(dest), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 24000)
        assert result.duration == pytest.approx(wav.getnframes() / 24000)
    assert result.duration == pytest.approx(len(TEXT) * SECONDS_PER_CHAR / 1.5, abs=0.01)
    assert result.sample_rate == 24000 and result.voice == "英文男"
    assert s.model == "cosyvoice-openai:CosyVoice2-0.5B"


def test_openai_stereo_wav_is_downmixed(tmp_path, fake):
    fake.openai_channels, fake.openai_rate = 2, 22050
    dest = tmp_path / "n.wav"
    result = speak(synth(tmp_path, fake.url, cosyvoice_api="openai"), dest)
    with wave.open(str(dest), "rb") as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (1, 22050)
    assert result.sample_rate == 22050
    assert result.duration == pytest.approx(len(TEXT) * SECONDS_PER_CHAR, abs=0.01)


def test_openai_errors_quote_the_message(tmp_path, fake):
    with pytest.raises(BackendError) as failed:
        speak(synth(tmp_path, fake.url, cosyvoice_api="openai"), tmp_path / "n.wav", voice="nobody")
    assert "400" in failed.value.message and "unknown voice 'nobody'" in failed.value.message
    fake.silent = True
    with pytest.raises(InvalidArtifact):
        speak(synth(tmp_path, fake.url, cosyvoice_api="openai"), tmp_path / "m.wav")


def test_openai_non_wav_reply_is_invalid(tmp_path, httpserver):
    httpserver.expect_request("/v1/audio/speech", method="POST").respond_with_data(b"ID3\x04mp3data" * 100, content_type="audio/mpeg")
    with pytest.raises(InvalidArtifact) as failed:
        speak(synth(tmp_path, httpserver.url_for("").rstrip("/"), cosyvoice_api="openai"), tmp_path / "n.wav")
    assert "WAV" in failed.value.message


def test_openai_status(tmp_path, fake):
    status = asyncio.run(synth(tmp_path, fake.url, cosyvoice_api="openai").status())
    assert status.ready and status.model == "cosyvoice-openai:cosyvoice"


def test_characters_get_sft_speakers_other_than_the_narrators(tmp_path, fake):
    s = synth(tmp_path, fake.url)
    her = s.voice_for(VoiceHints(gender="female"), [""])
    him = s.voice_for(VoiceHints(gender="male"), ["", her])
    assert (her, him) == ("英文女", "中文男")  # 中文女 is COSYVOICE_SPEAKER, the narrator's
    custom = synth(tmp_path, fake.url, cosyvoice_character_voices={"male": ["英文男"]})
    assert custom.voice_for(VoiceHints(gender="male"), []) == "英文男"
    with pytest.raises(ConfigurationError, match="COSYVOICE_CHARACTER_VOICES"):
        synth(tmp_path, fake.url, cosyvoice_character_voices={"female": []})


def test_a_character_voice_named_in_the_voice_prompts_is_spoken_zero_shot_while_the_narrator_keeps_its_clip(tmp_path, fake, prompt_wav):
    other = tmp_path / "grandpa.wav"
    other.write_bytes(PROMPT_BYTES + b"\0\0")
    s = synth(
        tmp_path,
        fake.url,
        cosyvoice_prompt_wav=prompt_wav,
        cosyvoice_prompt_text="旁白。",
        cosyvoice_voice_prompts={"grandpa": {"wav": str(other), "text": "爷爷说话。"}},
    )
    assert speak(s, tmp_path / "a.wav", voice="grandpa").voice == "grandpa"
    assert speak(s, tmp_path / "b.wav").voice == "prompt:voice.wav"
    speak(s, tmp_path / "c.wav", voice="英文男")
    first, second, third = fake.calls
    assert (first["endpoint"], first["form"]["prompt_text"], first["prompt_wav"]) == ("/inference_zero_shot", "爷爷说话。", PROMPT_BYTES + b"\0\0")
    assert (second["form"]["prompt_text"], second["prompt_wav"]) == ("旁白。", PROMPT_BYTES)
    assert (third["endpoint"], third["form"]) == ("/inference_sft", {"tts_text": TEXT, "spk_id": "英文男"})
    with pytest.raises(ConfigurationError, match="needs a \"wav\" path"):
        synth(tmp_path, fake.url, cosyvoice_voice_prompts={"x": {"wav": str(other)}})
