"""Ids of jobs submitted to remote services (a DashScope task, a ComfyUI prompt), recorded before they
are awaited, per artifact being made: a worker that takes the work over resumes them instead of
submitting (and paying for) them again."""

from __future__ import annotations

import time

from story2video.storage.db import Database


class ProviderJobRepository:
    def __init__(self, db: Database):
        self.db = db

    def recall(self, artifact_key: str, name: str) -> str | None:
        row = self.db.fetch_one("SELECT job_id FROM provider_jobs WHERE artifact_key=? AND name=?", (artifact_key, name))
        return row["job_id"] if row is not None else None

    def remember(self, artifact_key: str, name: str, job_id: str) -> None:
        self.db.execute(
            "INSERT INTO provider_jobs (artifact_key, name, job_id, submitted_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (artifact_key, name) DO UPDATE SET job_id=excluded.job_id, submitted_at=excluded.submitted_at",
            (artifact_key, name, job_id, time.time()),
        )

    def forget(self, artifact_key: str, name: str) -> None:
        self.db.execute("DELETE FROM provider_jobs WHERE artifact_key=? AND name=?", (artifact_key, name))

    def ledger(self, artifact_key: str) -> "ArtifactJobLedger":
        return ArtifactJobLedger(self, artifact_key)


class ArtifactJobLedger:
    """The ``story2video.stagecontext.JobLedger`` of one artifact, kept in the database."""

    def __init__(self, jobs: ProviderJobRepository, artifact_key: str):
        self.jobs = jobs
        self.artifact_key = artifact_key

    def recall(self, name: str) -> str | None:
        return self.jobs.recall(self.artifact_key, name)

    def remember(self, name: str, job_id: str) -> None:
        self.jobs.remember(self.artifact_key, name, job_id)

    def forget(self, name: str) -> None:
        self.jobs.forget(self.artifact_key, name)
