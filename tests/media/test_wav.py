import array
import sys
import wave

import pytest

from story2video.media.probe import wav_duration
from story2video.media.wav import write_mono_wav


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
