"""Publishing finished artifacts somewhere public (e.g. an object store), behind one small protocol.

The core only knows this seam: the artifact store calls ``publish`` once an artifact of a published
kind is validated and in place, records what it returns under ``meta["remote"]``, and asks ``url``
for a fresh link whenever a response is built. Implementations (the OSS client) live in the
provider packages; the core imports no cloud SDK. A failed upload raises: nothing falls back to
local serving in silence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from story2video.storage.records import ArtifactRecord

PUBLISHER_EXTRA = "publisher"  # the key of the publisher in ``Providers.extras``
REMOTE_META = "remote"  # the key of the publisher's answer in an artifact's meta


@runtime_checkable
class ArtifactPublisher(Protocol):
    name: str  # shown in logs, e.g. "oss"
    kinds: frozenset[str]  # artifact kinds it publishes, e.g. {"keyframe", "clip", "segment", "video"}

    async def publish(self, record: ArtifactRecord, path: Path) -> dict:
        """Upload ``path``; return JSON-able facts that locate it (bucket, object name, ...)."""
        ...

    def url(self, remote: dict) -> str:
        """A link to the published copy, e.g. presigned now with the configured expiry."""
        ...
