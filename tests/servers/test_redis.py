"""The Redis test server keeps queued work across a clean stop and across a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from tests.servers import redis as redis_module
from tests.servers.redis import RedisServer, redis_server  # noqa: F401 - the fixture

QUEUE = "story2video.operations"


def test_answers_on_its_url(redis_server: RedisServer) -> None:
    with redis.Redis.from_url(redis_server.url) as client:
        assert client.ping()
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "always"}


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_queued_item_survives_a_restart_on_the_same_port(redis_server: RedisServer, how: str) -> None:
    port, url = redis_server.port, redis_server.url
    with redis_server.client() as client:
        client.rpush(QUEUE, b"render story-1")

    getattr(redis_server, how)()
    assert not redis_server.running
    with redis_server.client(retry=False, socket_connect_timeout=1) as client, pytest.raises(redis.ConnectionError):
        client.ping()

    redis_server.start()
    assert (redis_server.port, redis_server.url) == (port, url)
    with redis_server.client() as client:
        assert client.lrange(QUEUE, 0, -1) == [b"render story-1"]


def test_a_second_start_while_running_is_refused(redis_server: RedisServer) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        redis_server.start()


def test_a_port_in_use_fails_with_the_servers_log(redis_server: RedisServer, tmp_path: Path) -> None:
    clash = RedisServer(tmp_path / "second", port=redis_server.port)
    with pytest.raises(RuntimeError, match="(?s)exited with 1.*Address already in use"):
        clash.start()


def test_without_redis_server_the_test_is_skipped_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(redis_module, "redis_server_binary", lambda: None)
    with pytest.raises(pytest.skip.Exception, match="apt-get install redis-server"):
        redis_module.start_redis(tmp_path)
