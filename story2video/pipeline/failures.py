"""Turn whatever a provider raises into an error that names the stage, backend and shot."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from story2video.errors import BackendError, OperationCancelled, Story2VideoError


@contextmanager
def stage_errors(stage: str, backend: str, shot_id: str | None = None) -> Iterator[None]:
    try:
        yield
    except OperationCancelled:
        raise
    except Story2VideoError as error:
        if isinstance(error, BackendError) and error.backend is None:
            error.backend = backend
        raise error.with_context(stage=stage, shot_id=shot_id) from error.__cause__
    except Exception as error:  # an unexpected provider bug still fails loudly, with context
        where = f" for shot {shot_id}" if shot_id else ""
        raise BackendError(
            f"{stage} backend '{backend}' failed{where}: {type(error).__name__}: {error}",
            backend=backend,
            stage=stage,
            shot_id=shot_id,
        ) from error
