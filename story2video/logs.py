"""Loguru set-up: every line carries the operation id it belongs to (or '-')."""

from __future__ import annotations

import logging
import sys

from loguru import logger

_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <7} | op={extra[operation_id]} | {name}:{line} - {message}"


class _InterceptHandler(logging.Handler):
    """Route stdlib logging (uvicorn, fastapi) into loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        level = logger.level(record.levelname).name if record.levelname in logger._core.levels else record.levelno  # noqa: SLF001
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def configure_logging(level: str = "INFO", json_lines: bool = False) -> None:
    logger.remove()
    logger.configure(extra={"operation_id": "-"})
    logger.add(sys.stderr, level=level.upper(), format=_FORMAT, serialize=json_lines, backtrace=False, diagnose=False)
    # The stdlib side filters at the same level: at level 0 uvicorn would log every ASGI message
    # (its TRACE middleware), which costs more than half the event loop's time under load.
    stdlib_level = logging.getLevelName(level.upper())
    logging.basicConfig(handlers=[_InterceptHandler()], level=stdlib_level, force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "fastapi"):
        logging.getLogger(name).handlers = [_InterceptHandler()]
        logging.getLogger(name).setLevel(stdlib_level)
        logging.getLogger(name).propagate = False
