"""Leases: taken or refreshed, renewed per worker, released, found once expired, on both databases."""

from __future__ import annotations

import time

import pytest

from story2video.storage.db import Database
from story2video.storage.leases import LeaseRepository


@pytest.fixture
def leases(db: Database) -> LeaseRepository:
    return LeaseRepository(db)


def test_take_then_take_again_refreshes_one_lease(leases: LeaseRepository):
    leases.take("u", "op", "driver", "w-1", 1, ttl_s=-1)
    leases.take("u", "op", "driver", "w-2", 2, ttl_s=60)
    assert leases.holders("u", "op") == ["driver"]
    assert leases.for_worker("w-2") == [("u", "op", 2, "driver")] and leases.for_worker("w-1") == []
    assert leases.expired() == []


def test_renew_extends_every_lease_of_the_worker_only(leases: LeaseRepository):
    leases.take("u", "op-1", "driver", "w-1", 1, ttl_s=-1)
    leases.take("u", "op-1", "shot_01", "w-1", 1, ttl_s=-1)
    leases.take("u", "op-2", "driver", "w-2", 1, ttl_s=-1)
    assert leases.renew("w-1", ttl_s=60) == 2
    assert leases.expired() == [("u", "op-2", 1)]
    assert leases.renew("w-unknown", ttl_s=60) == 0


def test_expired_names_each_operation_once_with_its_highest_attempt(leases: LeaseRepository):
    leases.take("u", "op", "driver", "w-1", 2, ttl_s=-1)
    leases.take("u", "op", "shot_01", "w-2", 1, ttl_s=-1)
    leases.take("u", "op", "shot_02", "w-3", 2, ttl_s=60)
    leases.take("v", "op", "driver", "w-1", 1, ttl_s=60)
    found = leases.expired()
    assert found == [("u", "op", 2)] and found[0].attempt == 2
    assert leases.expired(now=time.time() + 120) == [("u", "op", 2), ("v", "op", 1)]


def test_drop_expired_keeps_the_live_leases(leases: LeaseRepository):
    leases.take("u", "op", "driver", "w-1", 1, ttl_s=-1)
    leases.take("u", "op", "shot_01", "w-2", 1, ttl_s=60)
    assert leases.drop_expired("u", "op") == 1
    assert leases.holders("u", "op") == ["shot_01"]
    assert leases.expired() == []


def test_release_gives_one_lease_up(leases: LeaseRepository):
    leases.take("u", "op", "driver", "w-1", 1, ttl_s=60)
    leases.take("u", "op", "shot_01", "w-1", 1, ttl_s=60)
    assert leases.release("u", "op", "driver") is True
    assert leases.release("u", "op", "driver") is False
    assert leases.for_worker("w-1") == [("u", "op", 1, "shot_01")]
