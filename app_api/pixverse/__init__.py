"""Clips from PixVerse's platform API (VIDEO_BACKEND=pixverse), in either mode: ``client`` speaks the
protocol, ``video`` makes clips (image-to-video, reference-to-video and lip sync), ``fusion`` words a
reference-to-video request. docs/configuration.md writes the protocol down."""

from app_api.pixverse.client import PixVerseClient, PixVerseError
from app_api.pixverse.video import LIP_SYNC_JOB, VIDEO_JOB, PixVerseVideoGenerator

__all__ = ["LIP_SYNC_JOB", "VIDEO_JOB", "PixVerseClient", "PixVerseError", "PixVerseVideoGenerator"]
