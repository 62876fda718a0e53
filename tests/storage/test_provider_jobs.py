"""Provider job ids per artifact, and the JobLedger of one artifact, on both databases."""

from __future__ import annotations

from story2video.stagecontext import JobLedger
from story2video.storage.db import Database
from story2video.storage.provider_jobs import ProviderJobRepository


def test_remember_recall_replace_forget(db: Database):
    jobs = ProviderJobRepository(db)
    assert jobs.recall("key-1", "video-synthesis") is None
    jobs.remember("key-1", "video-synthesis", "task-a")
    jobs.remember("key-1", "video-synthesis", "task-b")  # resubmitted: the newer id counts
    jobs.remember("key-2", "video-synthesis", "task-c")
    assert jobs.recall("key-1", "video-synthesis") == "task-b"
    jobs.forget("key-1", "video-synthesis")
    assert jobs.recall("key-1", "video-synthesis") is None
    assert jobs.recall("key-2", "video-synthesis") == "task-c"


def test_a_ledger_is_bound_to_its_artifact_and_survives_a_new_repository(db: Database):
    ledger: JobLedger = ProviderJobRepository(db).ledger("key-1")
    ledger.remember("prompt", "http://host:8188|p-1")
    other = ProviderJobRepository(db).ledger("key-2")
    assert other.recall("prompt") is None
    again = ProviderJobRepository(db).ledger("key-1")  # a worker that took the work over
    assert again.recall("prompt") == "http://host:8188|p-1"
    again.forget("prompt")
    assert ledger.recall("prompt") is None
