"""Every local-mode service faked on 127.0.0.1, for trying LOCAL_INFERENCE=true without a GPU.

    .venv/bin/python -m tests.fakes.devstack          # prints the settings, serves until Ctrl-C

Starts a fake Ollama (it writes a storyboard from any script), two fake ComfyUI hosts running the
model-free workflows in tests/fakes/comfy_workflows/, and a fake CosyVoice server. Paste the printed
variables in front of `./scripts/serve.sh` (or `python main_dispatcher.py`).
"""

from __future__ import annotations

import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pytest_httpserver import HTTPServer

from tests.fakes.comfy_support import IMAGE_TO_WEBP, TEXT_TO_IMAGE
from tests.fakes.comfyui import FakeComfyUI
from tests.fakes.cosyvoice import FakeCosyVoice
from tests.fakes.ollama import FakeOllama


@contextmanager
def devstack(root: Path) -> Iterator[dict[str, str]]:
    """Start the fakes; yield the settings (environment variables) that point the service at them."""
    ollama_server, voice_server = HTTPServer(host="127.0.0.1"), HTTPServer(host="127.0.0.1")
    ollama_server.start()
    voice_server.start()
    hosts = [FakeComfyUI(root / f"comfy-{n}").start() for n in range(2)]
    try:
        ollama, voice = FakeOllama(ollama_server, auto_reply=True), FakeCosyVoice(voice_server)
        yield {
            "LOCAL_INFERENCE": "true",
            "OLLAMA_URL": ollama.url,
            "COMFY_HOSTS": ",".join(host.url for host in hosts),
            "COMFY_IMAGE_WORKFLOW": str(TEXT_TO_IMAGE),
            "COMFY_VIDEO_WORKFLOW": str(IMAGE_TO_WEBP),
            "COSYVOICE_URL": voice.url,
        }
    finally:
        for host in hosts:
            host.close()
        ollama_server.stop()
        voice_server.stop()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="s2v-devstack-") as root, devstack(Path(root)) as env:
        print("Fake local stack running. Start the service with:\n")
        print(" ".join(f"{key}={value}" for key, value in env.items()) + " ./scripts/serve.sh\n")
        print("Ctrl-C stops the fakes.", flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    main()
