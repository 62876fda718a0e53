"""Builds the four DashScope stage backends from settings, sharing one HTTP client, one task
poller, one chat model (storyboards and prompt softening) and one readiness probe."""

from __future__ import annotations

import asyncio
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from app_api.dashscope.catalog import image_model, video_model
from app_api.dashscope.chat import DashScopeChat, DashScopeStoryboardWriter, PromptSoftener
from app_api.dashscope.errors import Endpoint
from app_api.dashscope.http import DashScopeClient
from app_api.dashscope.images import DashScopeImageGenerator, ImageOptions
from app_api.dashscope.probe import DashScopeProbe
from app_api.dashscope.speech import COSYVOICE_V2_VOICES, DashScopeSpeechSynthesizer, SpeechOptions
from app_api.dashscope.tasks import PollPolicy, TaskRunner
from app_api.dashscope.video import DashScopeVideoGenerator, DataUriLinks, KeyframeLinks, VideoOptions
from app_api.oss import OssKeyframeLinks, oss_client
from story2video.config import Settings
from story2video.errors import ConfigurationError
from story2video.media.ffmpeg import locate_ffmpeg
from story2video.providers.llm_script import LlmScriptWriter
from story2video.providers.retry import RetryPolicy
from story2video.providers.voices import table_problem

WS_PATH = "/api-ws/v1/inference"


def compatible_base_url(settings: Settings) -> str:
    return (settings.dashscope_compatible_base_url or f"{settings.dashscope_base_url.rstrip('/')}/compatible-mode/v1").rstrip("/")


def websocket_url(settings: Settings) -> str:
    if settings.dashscope_ws_url:
        return settings.dashscope_ws_url
    parts = urlsplit(settings.dashscope_base_url)
    scheme = "ws" if parts.scheme == "http" else "wss"
    return urlunsplit((scheme, parts.netloc, WS_PATH, "", ""))


def _endpoint(name: str, model: str, setting: str, concurrency: str) -> Endpoint:
    return Endpoint(name, model, f"DASHSCOPE_{setting}_MODEL", f"DASHSCOPE_{concurrency}_CONCURRENCY")


class DashScopeKit:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.retry = RetryPolicy.from_settings(settings)
        self.client = DashScopeClient(settings.dashscope_api_key, retry=self.retry, timeout=settings.dashscope_request_timeout_s)

    @cached_property
    def probe(self) -> DashScopeProbe:
        base = compatible_base_url(self.settings)
        return DashScopeProbe(self.client.status_of, f"{base}/models", location=self.settings.dashscope_base_url)

    @cached_property
    def chat(self) -> DashScopeChat:
        s = self.settings
        endpoint = _endpoint("chat", s.dashscope_chat_model, "CHAT", "CHAT")
        return DashScopeChat(self.client, compatible_base_url(s), endpoint, asyncio.Semaphore(s.dashscope_chat_concurrency))

    @cached_property
    def tasks(self) -> TaskRunner:
        s = self.settings
        poll = PollPolicy(
            s.dashscope_poll_interval_s, s.dashscope_poll_backoff, s.dashscope_poll_max_interval_s, s.dashscope_task_timeout_s
        )
        return TaskRunner(self.client, s.dashscope_base_url, poll)

    @cached_property
    def ffmpeg(self) -> Path:
        return locate_ffmpeg(self.settings.ffmpeg_binary)

    def storyboard(self) -> DashScopeStoryboardWriter:
        return DashScopeStoryboardWriter(self.chat, self.settings.dashscope_storyboard_attempts, self.probe)

    def script(self) -> LlmScriptWriter:
        chat = self.chat

        async def status():
            return await self.probe.status("script", chat.model)

        return LlmScriptWriter(chat.stream, backend="dashscope", model=chat.model, attempts=self.settings.script_attempts, status=status)

    def image(self) -> DashScopeImageGenerator:
        s = self.settings
        endpoint = _endpoint("image synthesis", s.dashscope_image_model, "IMAGE", "IMAGE")
        options = ImageOptions(s.dashscope_prompt_extend, s.dashscope_watermark, s.dashscope_negative_prompt)
        slots = asyncio.Semaphore(s.dashscope_image_concurrency)
        entry = image_model(s)  # refuses at start-up a model the region's table lacks
        return DashScopeImageGenerator(self.client, self.tasks, endpoint, entry, options, PromptSoftener(self.chat), slots, self.probe)

    def video(self) -> DashScopeVideoGenerator:
        s = self.settings
        endpoint = _endpoint("image-to-video", s.dashscope_video_model, "VIDEO", "VIDEO")
        options = VideoOptions(s.dashscope_video_resolution, s.dashscope_prompt_extend, s.dashscope_watermark, s.dashscope_negative_prompt)
        slots = asyncio.Semaphore(s.dashscope_video_concurrency)
        entry = video_model(s)  # refuses at start-up a model or resolution the region's table lacks
        return DashScopeVideoGenerator(
            self.client, self.tasks, endpoint, entry, options, self._keyframe_links(), PromptSoftener(self.chat), self.ffmpeg, slots, self.probe
        )

    def speech(self) -> DashScopeSpeechSynthesizer:
        s = self.settings
        endpoint = _endpoint("speech synthesis", s.dashscope_tts_model, "TTS", "TTS")
        problem = table_problem(s.dashscope_character_voices) if s.dashscope_character_voices else None
        if problem:
            raise ConfigurationError(f"DASHSCOPE_CHARACTER_VOICES: {problem}")
        table = s.dashscope_character_voices or COSYVOICE_V2_VOICES
        options = SpeechOptions(
            s.dashscope_tts_voice, s.dashscope_tts_format, s.dashscope_tts_sample_rate, table, s.dashscope_tts_word_timestamps
        )
        slots = asyncio.Semaphore(s.dashscope_tts_concurrency)
        timeout = s.dashscope_request_timeout_s
        return DashScopeSpeechSynthesizer(
            websocket_url(s), s.dashscope_api_key, endpoint, options, self.retry, timeout, self.ffmpeg, slots, self.probe
        )

    def _keyframe_links(self) -> KeyframeLinks:
        client = oss_client(self.settings)
        return OssKeyframeLinks(client) if client is not None else DataUriLinks()
