"""The one encoder every image-to-video backend's frames and files go through."""

from __future__ import annotations

import asyncio

import av
import pytest
from PIL import Image

from story2video.errors import InvalidArtifact
from story2video.media.clips import ClipEncoder
from story2video.media.ffmpeg import locate_ffmpeg
from story2video.providers.base import StageContext


@pytest.fixture(scope="module")
def encoder() -> ClipEncoder:
    return ClipEncoder(ffmpeg=locate_ffmpeg(), preset="ultrafast", crf=23)


def _decoded(path) -> tuple[str, str, int, int, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return stream.codec_context.name, stream.codec_context.pix_fmt, stream.width, stream.height, frames


def test_frames_become_an_h264_mp4_with_even_sides_and_their_duration(encoder, tmp_path):
    frames = [Image.new("RGBA", (65, 37), (index * 20, 0, 0, 255)) for index in range(12)]  # odd sides, not RGB
    duration = asyncio.run(encoder.frames_to_mp4(iter(frames), 8, tmp_path / "clip.mp4", StageContext()))
    assert duration == pytest.approx(12 / 8, abs=0.01)
    assert _decoded(tmp_path / "clip.mp4") == ("h264", "yuv420p", 64, 36, 12)


def test_a_video_file_is_reencoded_the_same_way(encoder, tmp_path):
    frames = [Image.new("RGB", (48, 32), (0, index * 30, 0)) for index in range(6)]
    asyncio.run(encoder.frames_to_mp4(frames, 6, tmp_path / "first.mp4", StageContext()))
    duration = asyncio.run(encoder.file_to_mp4(tmp_path / "first.mp4", tmp_path / "again.mp4", StageContext()))
    assert duration == pytest.approx(1.0, abs=0.01)
    assert _decoded(tmp_path / "again.mp4") == ("h264", "yuv420p", 48, 32, 6)


def test_no_frames_is_an_invalid_artifact_and_writes_nothing(encoder, tmp_path):
    with pytest.raises(InvalidArtifact, match="returned no frames"):
        asyncio.run(encoder.frames_to_mp4([], 8, tmp_path / "clip.mp4", StageContext()))
    assert not (tmp_path / "clip.mp4").exists()
