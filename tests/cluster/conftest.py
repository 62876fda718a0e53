"""Cluster tests: real processes in their roles over a real Redis and PostgreSQL (skipped, with the
reason, where those servers cannot run here)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.cluster.harness import Cluster
from tests.servers.netns import host_network  # noqa: F401 - fixture
from tests.servers.postgres import postgres_server, postgres_url  # noqa: F401 - fixtures
from tests.servers.redis import RedisServer, redis_server  # noqa: F401 - fixtures


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path: Path, redis_server: RedisServer, postgres_url: str) -> Iterator[Cluster]:  # noqa: F811
    made = Cluster(tmp_path, postgres_url, redis_server.url)
    try:
        yield made
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print(made.logs_text())  # shown with the failure
        made.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
