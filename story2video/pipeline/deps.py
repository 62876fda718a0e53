"""Everything a pipeline stage needs, handed over as one object."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from story2video.config import Settings
from story2video.media.fonts import FontInfo
from story2video.pipeline.slots import RankedSlots
from story2video.providers.base import Providers
from story2video.stagecontext import StageContext
from story2video.storage.artifacts import ArtifactStore
from story2video.storage.provider_jobs import ProviderJobRepository
from story2video.storage.records import ArtifactRecord
from story2video.storage.scripts import ScriptRepository
from story2video.storage.stories import StoryRepository

ARTIFACT_URL_PREFIX = "/api/v1/artifacts"


@dataclass
class PipelineDeps:
    settings: Settings
    providers: Providers
    stories: StoryRepository
    store: ArtifactStore
    ffmpeg: Path
    font: FontInfo
    compose_slots: RankedSlots
    provider_jobs: ProviderJobRepository | None = None  # where remote jobs are noted before they are awaited
    scripts: ScriptRepository | None = None  # scripts written from an idea

    def for_artifact(self, ctx: StageContext, key: str) -> StageContext:
        """``ctx`` with the job ledger of the artifact ``key``: a takeover resumes the jobs noted there."""
        if self.provider_jobs is None:
            return ctx
        return replace(ctx, jobs=self.provider_jobs.ledger(key))


def artifact_url(record: ArtifactRecord | None) -> str | None:
    """The stable, relative URL an artifact is served at (made absolute when a response is built)."""
    if record is None:
        return None
    return f"{ARTIFACT_URL_PREFIX}/{record.key}.{record.extension}"


def public_url(store: ArtifactStore, record: ArtifactRecord | None) -> str | None:
    """The published copy's link (presigned now) when there is one, else the local ``artifact_url``."""
    if record is None:
        return None
    return store.published_url(record) or artifact_url(record)
