"""Entry point: read settings, pick the cloud (app_api) or local (app_local) providers, then serve the API
(SERVICE_ROLE all or api) or run a Celery worker (SERVICE_ROLE worker)."""

from __future__ import annotations

import sys

import uvicorn
from loguru import logger
from pydantic import ValidationError

from story2video import __version__
from story2video.app import create_app
from story2video.config import Settings
from story2video.errors import Story2VideoError
from story2video.logs import configure_logging
from story2video.startup import claim, mode_summary, open_to_network_warning, page_addresses, role_summary


def build_providers(settings: Settings):
    if settings.local_inference:
        from app_local import build_providers
    else:
        from app_api import build_providers
    return build_providers(settings)


def build_app(settings: Settings):
    return create_app(settings, build_providers(settings))


def run_worker(settings: Settings) -> int:
    from story2video.worker.main import run_worker

    try:
        providers = build_providers(settings)
        logger.info("Story2Video {} starting as a worker in {}", __version__, mode_summary(settings, providers))
        return run_worker(settings, providers)
    except Story2VideoError as error:  # configuration, the database or a backend not ready at start-up
        logger.error("cannot start: {}", error.message)
        return 2


class _Server(uvicorn.Server):
    """uvicorn's server, telling where to open the page once it really listens."""

    def __init__(self, config: uvicorn.Config, settings: Settings):
        super().__init__(config)
        self._settings = settings

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        if self.started:
            _announce(self._settings)


def _announce(settings: Settings) -> None:
    first, *others = page_addresses(settings.service_host, settings.service_port)
    elsewhere = f" (from other machines: {', '.join(others)})" if others else ""
    logger.info("ready: open {} in a browser{}; API docs at {}docs", first, elsewhere, first)
    warning = open_to_network_warning(settings)
    if warning:
        logger.warning(warning)


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"cannot start: invalid settings:\n{error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_json)
    if settings.service_role == "worker":
        return run_worker(settings)
    try:
        # Before anything reads or repairs the data: a second copy stops here, touching nothing.
        data_lock, listener = claim(settings)
    except Story2VideoError as error:
        for problem in error.message.splitlines():
            logger.error("cannot start: {}", problem)
        return 2
    try:
        app = build_app(settings)
    except Story2VideoError as error:  # configuration, FFmpeg or font problems found while building
        logger.error("cannot start: {}", error.message)
        return 2
    logger.info("Story2Video {} starting in {}", __version__, mode_summary(settings, app.state.engine.deps.providers))
    logger.info("runs as {}", role_summary(settings, app.state.assembly.db.location))
    config = uvicorn.Config(app, host=settings.service_host, port=settings.service_port, log_config=None)
    try:
        _Server(config, settings).run(sockets=[listener])
    finally:
        listener.close()
        if data_lock is not None:
            data_lock.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
