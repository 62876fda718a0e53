"""Explicit operation and shot states."""

from __future__ import annotations

from enum import Enum

from story2video.pipeline.progress import ShotState

__all__ = ["OperationKind", "OperationStatus", "ShotState", "UNFINISHED_STATUSES"]


class OperationStatus(str, Enum):
    QUEUED = "Queued"
    RUNNING = "Running"
    SUCCESS = "Success"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (OperationStatus.SUCCESS, OperationStatus.FAILED, OperationStatus.CANCELLED)


UNFINISHED_STATUSES = (OperationStatus.QUEUED.value, OperationStatus.RUNNING.value)


class OperationKind(str, Enum):
    CREATE_STORYBOARD = "storyboard.create"
    REGENERATE_SHOT = "shot.regenerate"
    RENDER_VIDEO = "video.render"
    WRITE_SCRIPT = "script.write"
    SCENE_PROMPTS = "script.scene_prompts"
    # seed 003's stage endpoints, each stage on its own (story2video/stages/)
    STAGE_STORYBOARD = "stage.storyboard"
    STAGE_FRAMES = "stage.frames"
    STAGE_CLIPS = "stage.clips"
    STAGE_NARRATION = "stage.narration"
