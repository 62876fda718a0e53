"""The one settings object. Read once at start-up from the environment (and an optional .env)."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

AspectRatio = Literal["16:9", "9:16", "1:1"]
_OSS_REQUIRED = ("oss_endpoint", "oss_bucket", "oss_access_key_id", "oss_access_key_secret")
_OSS_ENDPOINT_REGION = re.compile(r"(?:^|[/.])oss-([a-z0-9-]+?)(?:-internal)?\.aliyuncs\.com", re.IGNORECASE)
_TTS_SAMPLE_RATES = (8000, 16000, 22050, 24000, 44100, 48000)  # what CosyVoice on DashScope offers


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", hide_input_in_errors=True)  # no key in errors

    # --- service
    service_host: str = "0.0.0.0"
    service_port: int = Field(12345, ge=1, le=65535)
    local_inference: bool = False
    public_base_url: str = Field("", description="Absolute URL prefix for artifact links; empty = the request's own base URL")
    log_level: str = "INFO"
    log_json: bool = False
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024, description="Larger request bodies get 413")
    api_keys: str = Field(
        "", repr=False, description="Comma-separated KEY or KEY:USER_ID entries; empty = no authentication"
    )
    artifact_url_secret: str = Field("", repr=False, description="Signs artifact URLs; empty = derived from API_KEYS")
    artifact_url_ttl_s: int = Field(86400, ge=60, description="How long a signed artifact URL stays valid")
    cors_origins: str = Field("", description="Comma-separated origins allowed by CORS; empty = CORS off")

    # --- accounts for people (docs/api.md "Accounts"): off unless enabled; API keys keep working for machines
    accounts_enabled: bool = Field(False, description="Let people register and log in; every data route then needs a key or an access token")
    account_token_secret: str = Field(
        "", repr=False, description="Signs access tokens (HS256); at least 32 characters; required with ACCOUNTS_ENABLED"
    )
    access_token_ttl_s: int = Field(900, ge=60, le=86400, description="How long an access token is valid")
    refresh_token_ttl_s: int = Field(30 * 86400, ge=300, description="How long a refresh token (the HttpOnly cookie) is valid")
    login_max_failures: int = Field(5, ge=1, description="Failed log-ins for one username within LOGIN_WINDOW_S before it is refused (429)")
    login_max_failures_per_address: int = Field(20, ge=1, description="Failed log-ins from one client address within LOGIN_WINDOW_S before it is refused")
    login_window_s: float = Field(900.0, ge=1, description="The window the failed log-ins are counted in")
    min_password_chars: int = Field(8, ge=1, description="Shortest password a person may register with")

    # --- roles and scale-out (docs/deployment.md)
    service_role: Literal["all", "api", "worker"] = Field(
        "all", description="all = one process does everything; api = HTTP only, work goes to Celery; worker = runs Celery tasks"
    )
    database_url: str = Field(
        "", repr=False, description="postgresql://user:pass@host:port/db for state shared by every host; empty = the SQLite file DATABASE_PATH"
    )
    celery_broker_url: str = Field("", repr=False, description="redis://host:port/db: the broker of SERVICE_ROLE api and worker")
    worker_queues: str = Field(
        "story2video.operations,story2video.gpu,story2video.compose",
        description="Queues a worker takes tasks from: operations (storyboards, keyframes, render plans), gpu (a shot's "
        "narration, keyframe and clip), compose (a shot's segment and the final join)",
    )
    worker_concurrency: int = Field(4, ge=1, description="Tasks one worker runs at once (threads; one event loop)")
    worker_id: str = Field("", description="This worker's name in leases and /ready; empty = host-pid-random")
    lease_ttl_s: float = Field(30.0, ge=1, description="A running operation's lease lasts this long unless renewed (every third of it)")
    broker_visibility_timeout_s: float = Field(
        0, ge=0, description="A task a lost worker took is handed out again after this long; 0 = twice the longest step timeout"
    )

    # --- user uploads (keyframe pictures, music) and URL imports
    max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1024, description="Larger uploads (or imported files) get 413")
    max_upload_pixels: int = Field(40_000_000, ge=4096, description="An uploaded picture with more pixels is refused")
    max_upload_audio_s: float = Field(900.0, gt=0, description="Uploaded audio longer than this is refused")
    upload_url_hosts: str = Field(
        "", description="Hosts URL imports may fetch from, comma-separated; '*.example.com' allows its subdomains; empty = imports off"
    )
    upload_url_allow_private: bool = Field(
        False, description="Let URL imports reach loopback, private and link-local addresses (a trusted intranet host)"
    )
    upload_url_timeout_s: float = Field(30.0, gt=0, description="One URL import: connect, redirects and download")

    # --- webhooks (callbacks when an operation ends)
    webhook_url_hosts: str = Field(
        "", description="Hosts callback URLs may name, comma-separated; '*.example.com' allows its subdomains; empty = callbacks off"
    )
    webhook_allow_private: bool = Field(
        False, description="Let callbacks reach loopback, private and link-local addresses (a trusted intranet receiver)"
    )
    webhook_secret: str = Field(
        "", repr=False, description="Signs callbacks to a request's callback_url; empty = requests may not name one"
    )
    webhook_timeout_s: float = Field(10.0, gt=0, description="One callback attempt: connect, send, answer")
    webhook_retry_window_s: float = Field(3600.0, ge=0, description="How long after an operation ends its callback is retried")
    webhook_retry_base_s: float = Field(5.0, gt=0, description="Wait before the first retry; doubled after each failed attempt")
    webhook_retry_max_s: float = Field(600.0, gt=0, description="Longest wait between two attempts")
    webhook_poll_interval_s: float = Field(1.0, gt=0, description="How often a sender looks for callbacks that are due")

    # --- storage
    output_dir: Path = PROJECT_ROOT / "data" / "output"
    database_path: Path = PROJECT_ROOT / "data" / "story2video.sqlite3"
    artifact_retention_days: float = Field(
        30.0, ge=0, description="Artifacts nothing uses (no story, shot, upload or recent operation) are removed once this old; 0 = keep forever"
    )
    upload_retention_days: float = Field(
        90.0, ge=0, description="Uploads no story or unfinished operation uses are removed once this old; 0 = keep forever"
    )
    retention_sweep_interval_s: float = Field(3600.0, ge=1, description="How often retention runs (and once at start-up)")

    # --- operations
    max_running_operations: int = Field(4, ge=1)
    max_queued_operations: int = Field(64, ge=0)
    queue_retry_after_s: int = Field(5, ge=1)
    release_heap_memory: bool = Field(
        True, description="Keep glibc's heap from holding on to freed memory: 1 MiB thresholds and a trim after each operation"
    )
    shot_concurrency: int = Field(4, ge=1, description="Shots worked on at once inside one operation")
    sync_wait_timeout_s: float = Field(3600.0, gt=0, description="How long a request without Prefer: respond-async waits")
    storyboard_timeout_s: float = Field(600.0, gt=0, description="One storyboard call to its backend")
    keyframe_timeout_s: float = Field(600.0, gt=0, description="One keyframe call to its backend")
    clip_timeout_s: float = Field(1800.0, gt=0, description="One clip call to its backend")
    narration_timeout_s: float = Field(300.0, gt=0, description="One narration call to its backend")

    # --- drift check of keyframes with characters
    consistency_threshold: float = Field(
        0.0, ge=0, le=1, description="A keyframe whose likeness to its characters' references scores below this is drawn again (0: score only)"
    )
    consistency_takes: int = Field(
        3, ge=1, le=16, description="Most keyframes drawn for one shot by the drift check; the most alike is kept"
    )

    # --- storyboard limits
    max_script_chars: int = Field(20000, ge=1)
    default_min_shots: int = Field(1, ge=1, description="Fewest shots when the request gives no shot_count")
    default_max_shots: int = Field(60, ge=1, description="Most shots when the request gives no shot_count")
    max_shots: int = Field(60, ge=1)
    max_shot_seconds: float = Field(
        12.0, ge=3, le=600, description="Preview storyboard: most seconds of narration in one shot (estimated)"
    )

    # --- stage backends ("auto" = the mode's real backend when built and configured, else preview)
    storyboard_backend: str = "auto"
    image_backend: str = "auto"
    video_backend: str = "auto"
    speech_backend: str = "auto"
    script_backend: str = Field("auto", description="Writes scripts from an idea: auto = the mode's chat model when configured, else preview")

    # --- scripts from an idea (POST /api/v1/scripts)
    max_script_episodes: int = Field(20, ge=1, le=100, description="Most episodes one script may have")
    max_premise_chars: int = Field(4000, ge=1, description="Longest premise (topic) a script request may carry")
    script_timeout_s: float = Field(600.0, gt=0, description="One part of a script (cast, outline, one episode, scene prompts) from its backend")
    script_attempts: int = Field(3, ge=1, le=10, description="Replies tried per script part before giving up (re-asking with the problem)")
    script_preview_delay_s: float = Field(0.02, ge=0, le=5, description="Preview script writer: pause between streamed pieces")

    # --- keyframes and render defaults
    default_aspect_ratio: AspectRatio = "16:9"
    default_resolution: int = Field(720, ge=144, le=2160, description="Short side of the output in pixels")
    default_fps: int = Field(24, ge=1, le=60)
    default_voice: str = ""
    segment_lead_in_s: float = Field(0.2, ge=0, le=5)
    segment_tail_s: float = Field(0.4, ge=0, le=5)
    clip_fit: Literal["hold", "slow"] = Field("hold", description="A generated clip shorter than its narration: hold its last frame, or slow it down")

    # --- media
    ffmpeg_binary: str = Field("", description="Path to ffmpeg; empty = system ffmpeg on PATH, else the imageio-ffmpeg binary")
    video_encoder: Literal["libx264", "h264_nvenc"] = "libx264"
    x264_preset: str = "veryfast"
    video_crf: int = Field(20, ge=0, le=51)
    audio_bitrate: str = "128k"
    compose_workers: int = Field(0, ge=0, description="Segments encoded at once; 0 = number of CPU cores")
    font_path: Path | None = Field(None, description="A CJK-capable TTF/OTF for keyframes and subtitles")
    subtitle_speakers: Literal["name", "colour", "off"] = Field(
        "name", description="Who speaks a line in the subtitles: a name prefix, a colour per character (SRT: the prefix), or nothing"
    )
    music_path: Path | None = Field(None, description="Background music file; empty = a generated ambient pad")

    # --- remote backends (used by the local and cloud provider packages)
    ollama_url: str = "http://localhost:11434"
    comfy_hosts: str = "http://localhost:8188,http://localhost:8189"
    cosyvoice_url: str = "http://localhost:50000"
    dashscope_api_key: str = Field("", repr=False)
    dashscope_base_url: str = "https://dashscope.aliyuncs.com"

    # --- DashScope (cloud mode). A key works only on its region's host: mainland
    # https://dashscope.aliyuncs.com, international https://dashscope-intl.aliyuncs.com (DASHSCOPE_BASE_URL).
    dashscope_compatible_base_url: str = Field("", description="OpenAI-compatible chat; empty = DASHSCOPE_BASE_URL/compatible-mode/v1")
    dashscope_ws_url: str = Field("", description="Speech WebSocket; empty = DASHSCOPE_BASE_URL as wss://…/api-ws/v1/inference")
    dashscope_chat_model: str = "qwen-plus"
    dashscope_image_model: str = "qwen-image-plus"
    dashscope_video_model: str = "wan2.2-i2v-flash"
    dashscope_video_resolution: Literal["", "480P", "720P", "1080P"] = Field(
        "", description="One of the model's tiers (docs/configuration.md); empty = its nearest to the render size"
    )
    dashscope_region: Literal["auto", "beijing", "singapore"] = Field(
        "auto", description="Whose model table applies; auto = dashscope-intl.aliyuncs.com is Singapore, any other host Beijing"
    )
    dashscope_allow_unknown_models: bool = Field(
        False, description="Let image/video model names missing from the region's table through (docs/configuration.md)"
    )
    dashscope_tts_model: str = "cosyvoice-v2"
    dashscope_tts_voice: str = Field("longxiaochun_v2", description="Used when a render names no voice")
    dashscope_tts_format: Literal["pcm", "wav", "mp3"] = "pcm"
    dashscope_tts_sample_rate: int = Field(22050, description="8000, 16000, 22050, 24000, 44100 or 48000")
    dashscope_tts_word_timestamps: bool = Field(True, description="Ask for word timestamps (word_timestamp_enabled); subtitles follow them")
    dashscope_character_voices: dict[str, list[str]] = Field(
        default_factory=dict, description='Voices characters are given, JSON {"female": [...], "male": [...], ...}; empty = the cosyvoice-v2 table'
    )
    dashscope_prompt_extend: bool = Field(True, description="Let DashScope rewrite image/video prompts (recorded as actual_prompt)")
    dashscope_watermark: bool = False
    dashscope_negative_prompt: str = ""
    dashscope_storyboard_attempts: int = Field(3, ge=1, description="Tries to get a valid storyboard (re-asking with the problem)")
    dashscope_request_timeout_s: float = Field(60.0, gt=0)
    dashscope_poll_interval_s: float = Field(1.0, gt=0, description="First wait between task polls")
    dashscope_poll_backoff: float = Field(2.0, ge=1.0, description="Each wait is this many times the last one")
    dashscope_poll_max_interval_s: float = Field(5.0, gt=0)
    dashscope_task_timeout_s: float = Field(900.0, gt=0, description="A task not finished by then fails its shot")
    dashscope_chat_concurrency: int = Field(4, ge=1, description="Calls in flight at once, per endpoint")
    dashscope_image_concurrency: int = Field(2, ge=1)
    dashscope_video_concurrency: int = Field(2, ge=1)
    dashscope_tts_concurrency: int = Field(4, ge=1)
    api_retry_attempts: int = Field(4, ge=1, description="Tries per request on 429/5xx/network errors, the first included")
    api_retry_base_delay: float = Field(1.0, ge=0, description="Seconds before the first retry; doubled each time, with jitter")
    api_retry_max_delay: float = Field(30.0, ge=0, description="Upper bound of one wait, Retry-After included")

    # --- Aliyun OSS (optional, either mode): when set, finished keyframes, clips and videos are
    # uploaded and their links are presigned URLs; otherwise everything is served from OUTPUT_DIR.
    oss_endpoint: str = Field("", description="e.g. https://oss-cn-hangzhou.aliyuncs.com")
    oss_access_key_id: str = ""
    oss_access_key_secret: str = Field("", repr=False)
    oss_bucket: str = ""
    oss_base_url: str = Field("", description="A domain bound to the bucket for the links; empty = the bucket's endpoint")
    oss_url_expires: int = Field(3600, ge=60, le=7 * 24 * 3600, description="Seconds a presigned link stays valid")
    oss_prefix: str = Field("story2video/", description="Object name prefix inside the bucket")
    oss_region: str = Field(
        "", description="The bucket's region ID (cn-hangzhou, ap-southeast-1, ...), which V4 signatures name; empty = read from OSS_ENDPOINT"
    )
    oss_signature_version: Literal["v4", "v1"] = Field(
        "v4", description="v4 = OSS4-HMAC-SHA256; v1 only for old buckets or OSS-compatible servers that lack V4"
    )

    # --- ComfyUI (local mode: keyframes and clips on the COMFY_HOSTS pool; see comfy_workflows/README.md)
    # Each workflow is an API-format JSON; its binding is the file beside it named <stem>.binding.json.
    comfy_image_workflow: Path = PROJECT_ROOT / "comfy_workflows" / "sdxl_text_to_image.json"
    comfy_video_workflow: Path = PROJECT_ROOT / "comfy_workflows" / "svd_image_to_video.json"
    comfy_request_timeout_s: float = Field(30.0, gt=0, description="One HTTP call to a ComfyUI host")
    comfy_job_timeout_s: float = Field(1800.0, gt=0, description="One workflow run on one host, queue wait included")
    comfy_ws_stall_s: float = Field(15.0, gt=0, description="Websocket silence after which /history is polled")
    comfy_health_interval_s: float = Field(10.0, gt=0, description="How long a host marked down is skipped")
    comfy_max_attempts: int = Field(3, ge=1, description="Hosts tried per shot when a host dies mid-job")

    # --- Ollama (local storyboard writer)
    ollama_model: str = "qwen2.5:7b"
    ollama_temperature: float = Field(0.7, ge=0.0, le=2.0)
    ollama_num_ctx: int = Field(8192, ge=512)
    ollama_keep_alive: str = Field("30m", description="How long Ollama keeps the model loaded after a call")
    ollama_timeout_s: float = Field(300.0, gt=0, description="How long one chat call may wait for Ollama's reply")
    ollama_connect_timeout_s: float = Field(10.0, gt=0, description="How long to wait for a connection to OLLAMA_URL")
    storyboard_attempts: int = Field(3, ge=1, le=10, description="LLM storyboard replies tried before giving up")
    prompt_refiner_backend: Literal["none", "ollama"] = Field(
        "none", description="Rewrite each shot's detail into an English image prompt before drawing"
    )
    prompt_refiner_model: str = Field("", description="The refiner's model; empty = OLLAMA_MODEL")

    # --- any OpenAI-compatible chat endpoint (STORYBOARD_BACKEND=openai, either mode): DeepSeek, Moonshot,
    # Zhipu, SiliconFlow, OpenRouter, a vLLM or LM Studio server, ...
    openai_base_url: str = Field("", description="The endpoint's base, ending before /chat/completions, e.g. https://api.deepseek.com/v1")
    openai_api_key: str = Field("", repr=False, description="Bearer key; empty for a local server that takes none")
    openai_model: str = Field("", description="The chat model, e.g. deepseek-chat, moonshot-v1-8k, Qwen/Qwen2.5-7B-Instruct")
    openai_structured_output: Literal["auto", "json_schema", "json_object", "text"] = Field(
        "auto",
        description="How to ask for JSON: auto tries json_schema, then json_object, then plain text (validated and re-asked either way)",
    )
    openai_timeout_s: float = Field(180.0, gt=0, description="One chat request's time limit")
    openai_temperature: float = Field(0.7, ge=0.0, le=2.0)

    # --- Volcengine Ark image generation (IMAGE_BACKEND=volcengine, cloud mode): Seedream / Jimeng models
    ark_base_url: str = Field("https://ark.cn-beijing.volces.com/api/v3", description="Ark's API base (the region of the key)")
    ark_api_key: str = Field("", repr=False)
    ark_image_model: str = Field("doubao-seedream-4-0-250828", description="A model id or an endpoint id (ep-...) of the Ark console")
    ark_watermark: bool = False
    ark_timeout_s: float = Field(120.0, gt=0, description="One generation request, the picture drawn included")

    # --- PixVerse platform API (VIDEO_BACKEND=pixverse, either mode)
    pixverse_api_key: str = Field("", repr=False)
    pixverse_base_url: str = Field("https://app-api.pixverse.ai", description="The platform API's host")
    pixverse_model: str = Field("v4.5", description="The video model version, e.g. v4.5, v5")
    pixverse_quality: Literal["360p", "540p", "720p", "1080p"] = "540p"
    pixverse_duration: Literal[5, 8] = Field(5, description="Seconds of each clip (CLIP_FIT fits it to the narration)")
    pixverse_motion_mode: Literal["normal", "fast"] = "normal"
    pixverse_negative_prompt: str = ""
    pixverse_concurrency: int = Field(2, ge=1, description="Generations this process runs at once on the key")
    pixverse_poll_interval_s: float = Field(3.0, gt=0)
    pixverse_task_timeout_s: float = Field(600.0, gt=0, description="How long one generation may take")
    pixverse_request_timeout_s: float = Field(60.0, gt=0)
    pixverse_fusion: bool = Field(False, description="Shots with characters: reference-to-video with their portraits")
    pixverse_lip_sync: bool = Field(False, description="Shots whose characters speak on screen: lip sync the clip")

    # --- CosyVoice server (local speech, its FastAPI runtime)
    cosyvoice_speaker: str = Field("中文女", description="spk_id for /inference_sft (built-in speakers exist in CosyVoice-300M-SFT only)")
    cosyvoice_sample_rate: int = Field(24000, description="24000 for CosyVoice2/3 (the upstream server's default model), 22050 for CosyVoice-300M")
    cosyvoice_timeout_s: float = Field(120.0, gt=0)
    cosyvoice_api: Literal["fastapi", "openai"] = Field(
        "fastapi", description="fastapi = the runtime's /inference_* endpoints; openai = an OpenAI-style /v1/audio/speech wrapper"
    )
    cosyvoice_prompt_wav: Path | None = Field(None, description="A reference voice clip: zero-shot cloning (with its transcript) or instruct2")
    cosyvoice_prompt_text: str = Field("", description="The transcript of COSYVOICE_PROMPT_WAV; with it, /inference_zero_shot is used")
    cosyvoice_instruct: bool = Field(False, description="Use the shot's tone as an instruction (/inference_instruct2; needs COSYVOICE_PROMPT_WAV)")
    cosyvoice_end_of_prompt: bool = Field(
        True, description="End the instruction with <|endofprompt|>; off only for an older CosyVoice 2 server that appends it itself"
    )
    cosyvoice_openai_model: str = Field("cosyvoice", description="The model name sent to /v1/audio/speech")
    cosyvoice_character_voices: dict[str, list[str]] = Field(
        default_factory=dict, description='Voices characters are given, JSON {"female": [...], "male": [...], ...}; empty = the SFT speakers'
    )
    cosyvoice_voice_prompts: dict[str, dict[str, str]] = Field(
        default_factory=dict, description='Voices spoken zero-shot from a clip, JSON {"name": {"wav": path, "text": transcript}}'
    )

    # --- diffusers (in-process; local mode, needs requirements-gpu.txt; see models/README.md)
    diffusers_manifest: Path = Field(PROJECT_ROOT / "models" / "manifest.json", description="Names -> pipeline class, folder, dtype, defaults")
    diffusers_image_model: str = Field("", description="Manifest entry for keyframes; empty = the manifest's \"image\" default")
    diffusers_video_model: str = Field("", description="Manifest entry for clips; empty = the manifest's \"video\" default")
    diffusers_device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto = every visible CUDA device, else the CPU")
    diffusers_max_batch: int = Field(4, ge=1, description="Most images in one pipeline call (halved on out-of-memory)")
    diffusers_batch_window_s: float = Field(0.05, ge=0, le=10, description="How long a request waits for others to share its batch")
    diffusers_compile: bool = Field(False, description="torch.compile the denoiser (slow first call, faster after)")
    diffusers_cpu_offload: bool = Field(False, description="Keep idle pipeline parts in CPU memory (accelerate model offload)")
    diffusers_max_loaded: int = Field(2, ge=1, description="Pipelines kept loaded per device; the least recently used is evicted")
    diffusers_load_retry_s: float = Field(300.0, ge=0, description="How long a failed load is answered from memory before it is tried again")
    diffusers_warm_up: bool = Field(False, description="Load (and compile) every model on every device at start-up, with one call")

    @field_validator("storyboard_backend", "image_backend", "video_backend", "speech_backend", "script_backend")
    @classmethod
    def _lowercase_backend(cls, value: str) -> str:
        return value.strip().lower()

    @field_validator("default_max_shots")
    @classmethod
    def _max_at_least_min(cls, value: int, info) -> int:
        minimum = info.data.get("default_min_shots", 1)
        if value < minimum:
            raise ValueError(f"DEFAULT_MAX_SHOTS ({value}) must be >= DEFAULT_MIN_SHOTS ({minimum})")
        return value

    @field_validator("dashscope_tts_sample_rate")
    @classmethod
    def _cosyvoice_rate(cls, value: int) -> int:
        if value not in _TTS_SAMPLE_RATES:
            raise ValueError(f"DASHSCOPE_TTS_SAMPLE_RATE must be one of {', '.join(map(str, _TTS_SAMPLE_RATES))}")
        return value

    @model_validator(mode="after")
    def _oss_all_or_nothing(self) -> "Settings":
        missing = [name.upper() for name in _OSS_REQUIRED if not getattr(self, name)]
        if 0 < len(missing) < len(_OSS_REQUIRED):
            raise ValueError(f"OSS is only partly configured: also set {', '.join(missing)} (or unset all OSS_* settings)")
        return self

    @model_validator(mode="after")
    def _oss_region_known(self) -> "Settings":
        if not self.oss_configured:
            return self
        from_endpoint = oss_endpoint_region(self.oss_endpoint)
        if self.oss_region and not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", self.oss_region):
            raise ValueError(f"OSS_REGION={self.oss_region!r} is not a region ID such as cn-hangzhou or ap-southeast-1")
        if self.oss_region and from_endpoint and self.oss_region != from_endpoint:
            raise ValueError(
                f"OSS_REGION={self.oss_region} but OSS_ENDPOINT is in {from_endpoint}: set the bucket's region in both"
            )
        if self.oss_signature_version == "v4" and not self.oss_signing_region:
            raise ValueError(
                "OSS signs with V4, which names the bucket's region: set OSS_REGION (e.g. cn-hangzhou); "
                "it cannot be read from OSS_ENDPOINT unless that is an oss-<region>.aliyuncs.com address"
            )
        return self

    @model_validator(mode="after")
    def _pixverse_options_fit(self) -> "Settings":
        if self.pixverse_quality == "1080p" and (self.pixverse_duration == 8 or self.pixverse_motion_mode == "fast"):
            raise ValueError("PixVerse draws 1080p clips only 5 s long and in motion mode normal: change PIXVERSE_QUALITY, PIXVERSE_DURATION or PIXVERSE_MOTION_MODE")
        if self.pixverse_motion_mode == "fast" and self.pixverse_duration != 5:
            raise ValueError("PIXVERSE_MOTION_MODE=fast makes 5 s clips only: set PIXVERSE_DURATION=5")
        version = re.fullmatch(r"v(\d+(?:\.\d+)?)", self.pixverse_model.strip().lower())
        if self.pixverse_fusion and version and float(version.group(1)) < 4.5:
            raise ValueError(
                f"PIXVERSE_FUSION needs model v4.5 or later (PixVerse offers reference-to-video from v4.5 on), "
                f"but PIXVERSE_MODEL={self.pixverse_model}: set PIXVERSE_MODEL=v4.5 or later, or PIXVERSE_FUSION=false"
            )
        return self

    @model_validator(mode="after")
    def _roles_need_a_broker(self) -> "Settings":
        if self.service_role != "all" and not self.celery_broker_url:
            raise ValueError(f"SERVICE_ROLE={self.service_role} needs CELERY_BROKER_URL (redis://host:port/db)")
        if self.celery_broker_url and not self.celery_broker_url.startswith(("redis://", "rediss://")):
            raise ValueError("CELERY_BROKER_URL must be a redis:// or rediss:// URL")
        return self

    @model_validator(mode="after")
    def _accounts_need_a_secret(self) -> "Settings":
        if self.accounts_enabled and len(self.account_token_secret) < 32:
            raise ValueError("ACCOUNTS_ENABLED needs ACCOUNT_TOKEN_SECRET of at least 32 characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')")
        return self

    @property
    def worker_queue_list(self) -> list[str]:
        return [name.strip() for name in self.worker_queues.split(",") if name.strip()]

    @property
    def visibility_timeout_s(self) -> float:
        """Longer than the longest step, so a task is never handed to a second worker while the first still runs it."""
        longest = max(self.storyboard_timeout_s, self.keyframe_timeout_s, self.clip_timeout_s, self.narration_timeout_s)
        return self.broker_visibility_timeout_s or 2 * longest

    @property
    def oss_configured(self) -> bool:
        return all(getattr(self, name) for name in _OSS_REQUIRED)

    @property
    def oss_signing_region(self) -> str:
        return self.oss_region or oss_endpoint_region(self.oss_endpoint)

    @cached_property
    def artifacts_dir(self) -> Path:
        return self.output_dir / "artifacts"

    @cached_property
    def comfy_host_list(self) -> list[str]:
        return [host.strip().rstrip("/") for host in self.comfy_hosts.split(",") if host.strip()]


def oss_endpoint_region(endpoint: str) -> str:
    """The region named by an OSS endpoint (``https://oss-cn-hangzhou.aliyuncs.com`` -> cn-hangzhou), else ""."""
    found = _OSS_ENDPOINT_REGION.search(endpoint)
    region = found.group(1).lower() if found else ""
    return "" if region.startswith("accelerate") else region  # global acceleration endpoints name no region
