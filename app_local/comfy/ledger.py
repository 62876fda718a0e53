"""How a queued ComfyUI prompt is noted in the stage's job ledger: ``<host URL>|<prompt_id>``.

The host is part of the id because a prompt exists on one host only; a run that takes the work over
asks that host, and no other, about it.
"""

from __future__ import annotations

from dataclasses import dataclass

from loguru import logger

PROMPT_JOB = "comfyui-prompt"  # the ledger name of the one prompt an image or clip is made by
_SEPARATOR = "|"


@dataclass(frozen=True)
class QueuedPrompt:
    host: str
    prompt_id: str

    @property
    def job_id(self) -> str:
        return f"{self.host}{_SEPARATOR}{self.prompt_id}"

    @classmethod
    def parse(cls, job_id: str) -> QueuedPrompt | None:
        """The prompt a ledger entry names; None (logged) for an entry that is not ``host|prompt_id``."""
        host, separator, prompt_id = job_id.rpartition(_SEPARATOR)
        if not separator or not host or not prompt_id:
            logger.warning("the job ledger's ComfyUI entry {!r} is not '<host>|<prompt_id>'; ignoring it", job_id)
            return None
        return cls(host, prompt_id)
