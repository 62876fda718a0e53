import array
import io
import sys
import wave

import pytest

from story2video.media.probe import wav_duration
from story2video.media.wav import first_seconds, keep_spans, mono_wav_bytes, write_mono_wav


def test_samples_are_written_as_a_16_bit_mono_wav(tmp_path):
    samples = array.array("h", [0, 1000, -1000, 32767, -32768] * 4800)
    if sys.byteorder == "big":
        samples.byteswap()
    write_mono_wav(tmp_path / "a.wav", samples.tobytes(), 24000)
    with wave.open(str(tmp_path / "a.wav"), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()) == (1, 2, 24000, 24000)
        assert wav.readframes(5) == samples.tobytes()[:10]
    assert wav_duration(tmp_path / "a.wav") == 1.0


def test_half_a_sample_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="3 bytes is not a whole number of 16-bit samples"):
        write_mono_wav(tmp_path / "a.wav", b"\x00\x01\x02", 16000)
    assert not (tmp_path / "a.wav").exists()


def test_kept_spans_stay_where_they_were_after_the_lead_in_and_the_rest_is_silent():
    rate = 10  # ten samples a second keeps the arithmetic visible
    pcm = b"".join(bytes([n, 0]) for n in range(1, 31))  # 3 s, every sample distinct and non-zero
    kept = keep_spans(pcm, rate, [(0.5, 1.0), (2.5, 9.0)], lead_in=0.2)
    assert len(kept) == 2 * (2 + 30)
    samples = [kept[i] for i in range(0, len(kept), 2)]
    assert samples == [0, 0] + [0] * 5 + list(range(6, 11)) + [0] * 15 + list(range(26, 31))
    assert first_seconds(kept, rate, 1.0) == kept[:20] and first_seconds(kept, rate, 99) == kept


def test_wav_bytes_read_back_as_written():
    content = mono_wav_bytes(b"\x01\x00\x02\x00", 8000)
    with wave.open(io.BytesIO(content)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.readframes(2)) == (1, 8000, b"\x01\x00\x02\x00")
