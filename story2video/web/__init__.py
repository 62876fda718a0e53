"""The single-page web UI: plain HTML, CSS and ES modules, served by the service itself (no build step)."""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
INDEX_HTML = STATIC_DIR / "index.html"
