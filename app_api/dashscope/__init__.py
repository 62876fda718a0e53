"""DashScope (Alibaba Model Studio) backends: Qwen storyboards, image synthesis, Wan image-to-video
and CosyVoice speech. Plain HTTP (httpx) and WebSocket (websockets); no vendor SDK."""
