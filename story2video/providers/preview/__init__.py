"""The preview backends: offline, CPU-only, deterministic stand-ins for the four model stages."""

from story2video.providers.preview.clip import KenBurnsClipMaker
from story2video.providers.preview.keyframe import TitleCardPainter
from story2video.providers.preview.speech import EspeakSpeechSynthesizer
from story2video.providers.preview.storyboard import PreviewStoryboardWriter

__all__ = ["EspeakSpeechSynthesizer", "KenBurnsClipMaker", "PreviewStoryboardWriter", "TitleCardPainter"]
