from __future__ import annotations

import array
import asyncio
import math
import threading
import wave
from pathlib import Path

import pytest

from story2video.errors import BackendError, BackendUnavailable, InvalidRequest, OperationCancelled
from story2video.providers.base import SpeechRequest, SpeechResult, SpeechSynthesizer, StageContext, VoiceHints
from story2video.providers.preview.speech import EspeakSpeechSynthesizer

CHINESE = "老陈在江边开了一家小小的面馆，已经整整三十年了。"
ENGLISH = "The lighthouse stood alone at the edge of the world."


def speak(dest: Path, text: str, **options) -> SpeechResult:
    return asyncio.run(EspeakSpeechSynthesizer().synthesize(SpeechRequest(text=text, **options), dest, StageContext()))


def read_wav(path: Path) -> tuple[wave._wave_params, array.array]:
    with wave.open(str(path), "rb") as wav:
        params = wav.getparams()
        samples = array.array("h", wav.readframes(params.nframes))
    return params, samples


def rms(samples: array.array) -> float:
    return math.sqrt(sum(value * value for value in samples) / len(samples))


@pytest.mark.parametrize("text,voice", [(CHINESE, "cmn"), (ENGLISH, "en-us"), ("我用iPhone拍照。", "cmn")])
def test_speech_is_a_mono_16_bit_wav_whose_duration_is_measured(tmp_path, text, voice):
    dest = tmp_path / "speech.wav"
    result = speak(dest, text)
    params, samples = read_wav(dest)
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, 22050)
    assert result.sample_rate == params.framerate and result.voice == voice
    assert result.duration == pytest.approx(params.nframes / params.framerate, abs=1e-9)
    assert result.duration > 1.0
    assert rms(samples) > 500  # real speech, not silence


def test_longer_text_gives_longer_audio_and_speed_shortens_it(tmp_path):
    short = speak(tmp_path / "short.wav", ENGLISH).duration
    long = speak(tmp_path / "long.wav", " ".join([ENGLISH] * 3)).duration
    fast = speak(tmp_path / "fast.wav", ENGLISH, speed=2.0).duration
    assert long > 2.5 * short
    assert fast < 0.65 * short


def test_same_request_gives_identical_bytes(tmp_path):
    first = tmp_path / "first.wav"
    speak(first, CHINESE, tone="欢快")
    speak(tmp_path / "other.wav", ENGLISH, speed=1.7, tone="sad")  # leaves other settings behind
    second = tmp_path / "second.wav"
    speak(second, CHINESE, tone="欢快")
    assert first.read_bytes() == second.read_bytes()


def test_explicit_voice_is_used_and_unknown_voice_is_refused(tmp_path):
    assert speak(tmp_path / "gb.wav", ENGLISH, voice="en").voice == "en"
    with pytest.raises(InvalidRequest) as error:
        speak(tmp_path / "bad.wav", ENGLISH, voice="no-such-voice")
    assert error.value.param == "voice" and "cmn" in error.value.message and "en-us" in error.value.message


@pytest.mark.parametrize("text", ["", "。。。……", "🙂🎉"])
def test_text_with_nothing_to_say_is_a_backend_error(tmp_path, text):
    with pytest.raises(BackendError) as error:
        speak(tmp_path / "empty.wav", text)
    assert error.value.stage == "narration" and error.value.backend == "preview"
    assert not (tmp_path / "empty.wav").exists()


@pytest.mark.parametrize("speed", [0.0, -1.0, float("nan")])
def test_invalid_speed_is_refused(tmp_path, speed):
    with pytest.raises(InvalidRequest) as error:
        speak(tmp_path / "speed.wav", ENGLISH, speed=speed)
    assert error.value.param == "speed"


def test_concurrent_synthesis_from_threads_is_safe(tmp_path):
    texts = [CHINESE, ENGLISH, CHINESE + CHINESE, ENGLISH + " " + ENGLISH]
    expected = [speak(tmp_path / f"alone-{i}.wav", text) for i, text in enumerate(texts)]
    results: dict[int, SpeechResult] = {}
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            results[index] = speak(tmp_path / f"together-{index}.wav", texts[index])
        except BaseException as exc:  # re-raised below in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for index in range(len(texts)):
        assert results[index] == expected[index]
        together = (tmp_path / f"together-{index}.wav").read_bytes()
        assert together == (tmp_path / f"alone-{index}.wav").read_bytes()


def test_cancel_stops_before_anything_is_written(tmp_path):
    dest = tmp_path / "cancelled.wav"
    synthesizer = EspeakSpeechSynthesizer()
    with pytest.raises(OperationCancelled):
        asyncio.run(synthesizer.synthesize(SpeechRequest(CHINESE), dest, StageContext(is_cancelled=lambda: True)))
    assert not dest.exists()


def test_status_reports_the_engine_ready():
    synthesizer = EspeakSpeechSynthesizer()
    assert isinstance(synthesizer, SpeechSynthesizer)
    status = asyncio.run(synthesizer.status())
    assert status.ready and status.stage == "narration" and "22050" in status.detail


def test_long_text_reports_progress_and_can_be_cancelled_between_sentences(tmp_path):
    text = "".join([CHINESE] * 40)  # several chunks of sentences
    reported: list[float] = []
    result = asyncio.run(
        EspeakSpeechSynthesizer().synthesize(
            SpeechRequest(text), tmp_path / "long.wav", StageContext(progress=reported.append)
        )
    )
    assert len(reported) > 3 and reported == sorted(reported) and reported[-1] == 1.0
    assert result.duration > 100

    cancelled_after_first = StageContext(progress=reported.append, is_cancelled=lambda: bool(reported))
    reported.clear()
    with pytest.raises(OperationCancelled):
        asyncio.run(
            EspeakSpeechSynthesizer().synthesize(SpeechRequest(text), tmp_path / "stop.wav", cancelled_after_first)
        )
    assert len(reported) == 1 and not (tmp_path / "stop.wav").exists()


def test_a_library_that_cannot_load_makes_the_backend_unavailable(tmp_path, monkeypatch):
    import espeakng_loader

    monkeypatch.setattr(espeakng_loader, "get_library_path", lambda: str(tmp_path / "missing-libespeak-ng.so"))
    with pytest.raises(BackendUnavailable) as error:
        speak(tmp_path / "x.wav", ENGLISH)
    assert "espeakng-loader" in error.value.message and "requirements-api.txt" in error.value.message
    status = asyncio.run(EspeakSpeechSynthesizer().status())
    assert not status.ready and "espeakng-loader" in status.detail


def test_word_times_come_from_espeaks_word_events(tmp_path):
    result = speak(tmp_path / "w.wav", "Thank you, he said. It is pouring outside.")
    assert [word.text for word in result.words] == ["Thank", "you", "he", "said", "It", "is", "pouring", "outside"]
    starts = [word.start for word in result.words]
    assert starts == sorted(starts) and starts[0] == 0.0 and len(set(starts)) == len(starts)
    assert all(word.start < word.end <= result.duration for word in result.words)
    chinese = speak(tmp_path / "z.wav", "谢谢你，外面雨真大。")
    assert "".join(word.text for word in chinese.words) == "谢谢你外面雨真大"


def test_character_voices_are_variants_in_the_texts_language(tmp_path):
    speech = EspeakSpeechSynthesizer()
    female = speech.voice_for(VoiceHints(gender="female"), [""])
    male = speech.voice_for(VoiceHints(gender="male"), ["", female])
    other_female = speech.voice_for(VoiceHints(gender="female"), ["", female, male])
    assert len({female, male, other_female}) == 3 and all(v.startswith("+") for v in (female, male, other_female))
    assert speak(tmp_path / "a.wav", "你好。", voice=female).voice == "cmn" + female
    assert speak(tmp_path / "b.wav", "Hello.", voice=male).voice == "en-us" + male
