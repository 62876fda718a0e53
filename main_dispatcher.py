"""Entry point: read settings, pick the cloud (app_api) or local (app_local) providers, serve the API."""

from __future__ import annotations

import sys

import uvicorn
from loguru import logger
from pydantic import ValidationError

from story2video.app import create_app
from story2video.config import Settings
from story2video.errors import Story2VideoError
from story2video.logs import configure_logging


def build_app(settings: Settings):
    if settings.local_inference:
        from app_local import build_providers
    else:
        from app_api import build_providers
    return create_app(settings, build_providers(settings))


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"cannot start: invalid settings:\n{error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_json)
    mode = "local GPU" if settings.local_inference else "cloud"
    logger.info("starting Story2Video in {} mode on port {}", mode, settings.service_port)
    try:
        app = build_app(settings)
    except Story2VideoError as error:  # configuration, FFmpeg or font problems found while building
        logger.error("cannot start: {}", error.message)
        return 2
    uvicorn.run(app, host=settings.service_host, port=settings.service_port, log_config=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
