"""Every file of a story, listed by kind and shot, and streamed as one zip.

The zip is written while it is sent: stored entries (media is compressed already) read from the
artifact files in chunks by ``zipstream-ng``, ZIP64 where an entry or the archive needs it, so neither
memory nor disk holds the archive. Its size is known before the first byte (Content-Length).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from zipstream import ZIP_STORED, ZipStream

from story2video.storage.artifacts import ArtifactStore
from story2video.storage.records import ArtifactRecord, CharacterRecord, ShotRecord, StoryRecord

FILE_KINDS = ("storyboard", "video", "subtitles", "reference", "keyframe", "narration", "clip", "segment")
STORYBOARD_NAME = "storyboard.json"


@dataclass(frozen=True)
class StoryFile:
    name: str  # its path inside the zip, unique within the story
    kind: str  # one of FILE_KINDS
    shot_id: str | None
    size_bytes: int
    media_type: str
    artifact: ArtifactRecord | None = None  # None: made for the download (the storyboard)
    data: bytes | None = None


def story_files(
    store: ArtifactStore,
    story: StoryRecord,
    shots: list[ShotRecord],
    cast: list[CharacterRecord],
    storyboard: bytes,
) -> list[StoryFile]:
    """The story's files that exist now: the storyboard (``storyboard``, JSON), the final video and its
    subtitles, the cast's reference pictures, and per shot its keyframe, narration, clip and segment."""
    files = [StoryFile(STORYBOARD_NAME, "storyboard", None, len(storyboard), "application/json", data=storyboard)]

    def add(key: str | None, kind: str, name: str, shot_id: str | None = None) -> None:
        record = store.get(key) if key else None
        if record is not None:
            files.append(StoryFile(f"{name}.{record.extension}", kind, shot_id, record.size_bytes, record.media_type, artifact=record))

    add(story.video_key, "video", "video")
    add(story.subtitles_key, "subtitles", "subtitles")
    for character in cast:
        add(character.reference_key, "reference", f"cast/{character.character_id}")
    for shot in shots:
        folder = shot_folder(shot)
        segment = store.get(shot.video_key) if shot.video_key else None
        add(shot.image_key, "keyframe", f"{folder}/keyframe", shot.shot_id)
        add(shot.audio_key, "narration", f"{folder}/narration", shot.shot_id)
        add(segment.meta.get("clip") if segment else None, "clip", f"{folder}/clip", shot.shot_id)
        add(shot.video_key, "segment", f"{folder}/segment", shot.shot_id)
    return files


def shot_folder(shot: ShotRecord) -> str:
    """The folder of a shot's files: sorted by the shot's place in the story."""
    return f"shots/{shot.sequence:03d}-{shot.shot_id}"


def zip_stream(store: ArtifactStore, files: list[StoryFile]) -> tuple[Iterator[bytes], int]:
    """(chunks of a zip of ``files``, its exact size in bytes). Each file is read while its entry is sent."""
    archive = ZipStream(compress_type=ZIP_STORED, sized=True)
    for file in files:
        if file.artifact is not None:
            archive.add_path(str(store.path_of(file.artifact)), file.name)
        else:
            archive.add(file.data or b"", file.name)
    return iter(archive), len(archive)


def file_path(store: ArtifactStore, file: StoryFile) -> Path | None:
    return store.path_of(file.artifact) if file.artifact is not None else None
