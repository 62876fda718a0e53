"""Find the files a finished prompt saved, in its history entry.

Output nodes report files under different keys: SaveImage and SaveAnimatedWEBP under ``images``
(the latter, and core SaveVideo, add ``animated: [true]``), VideoHelperSuite's VHS_VideoCombine
under ``gifs``, some nodes under ``videos`` or ``audio``. Every key is looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from app_local.comfy.failures import BACKEND
from story2video.errors import InvalidArtifact

OUTPUT_KEYS = ("images", "gifs", "videos", "audio")
_STILL_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
_VIDEO_KEYS = ("gifs", "videos")


@dataclass(frozen=True)
class OutputFile:
    filename: str
    subfolder: str
    type: str  # output | temp | input
    key: str  # the output key it was listed under
    animated: bool

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.filename).suffix.lower()

    @property
    def is_still_image(self) -> bool:
        return self.key == "images" and not self.animated and self.suffix in _STILL_SUFFIXES

    @property
    def is_video(self) -> bool:
        return self.key in _VIDEO_KEYS or (self.key == "images" and self.animated)


def node_output_files(entry: dict, node_id: str) -> list[OutputFile]:
    """Every file the node ``node_id`` reported, ``output`` files first."""
    outputs = entry["outputs"] if isinstance(entry.get("outputs"), dict) else {}
    node_output = outputs.get(node_id)
    if not isinstance(node_output, dict):
        return []
    animated = _is_animated(node_output.get("animated"))
    files = []
    for key in OUTPUT_KEYS:
        for item in node_output.get(key) or []:
            if isinstance(item, dict) and item.get("filename"):
                files.append(_output_file(item, key, animated))
    return sorted(files, key=lambda file: file.type != "output")


def _output_file(item: dict[str, Any], key: str, animated: bool) -> OutputFile:
    return OutputFile(
        filename=str(item["filename"]),
        subfolder=str(item.get("subfolder") or ""),
        type=str(item.get("type") or "output"),
        key=key,
        animated=animated,
    )


def _is_animated(flags: Any) -> bool:
    return isinstance(flags, list) and any(flag is True for flag in flags)


def still_image(files: list[OutputFile], node_id: str, host: str) -> OutputFile:
    for file in files:
        if file.is_still_image:
            return file
    raise InvalidArtifact(f"ComfyUI at {host}: output node {node_id} saved no image ({_listing(files)})", backend=BACKEND)


def video_file(files: list[OutputFile], node_id: str, host: str) -> OutputFile:
    for file in files:
        if file.is_video:
            return file
    raise InvalidArtifact(
        f"ComfyUI at {host}: output node {node_id} saved no video or animation ({_listing(files)}); "
        "bind a node that saves one (SaveAnimatedWEBP, SaveVideo, VHS_VideoCombine)",
        backend=BACKEND,
    )


def _listing(files: list[OutputFile]) -> str:
    if not files:
        return "it reported no files; an identical earlier run may have been answered from ComfyUI's cache"
    return "it reported " + ", ".join(f"{file.key}: {file.filename}" for file in files)
