"""Events across processes over Redis pub/sub: every process sends its events on one channel; an API
replica listens and hands the other processes' events to its own hub, which wakes its SSE streams.

The database stays the record (streams read what they send from it); the relay only makes delivery
prompt. When Redis is away, streams fall back to reading the database once a second.
"""

from __future__ import annotations

import asyncio
import json

import redis
import redis.asyncio as aioredis
from loguru import logger

from story2video.jobs.events import Event, EventHub
from story2video.jobs.keys import OperationKey

CHANNEL = "story2video:events"
RECONNECT_DELAY_S = 1.0


class RedisEventRelay:
    def __init__(self, url: str, hub: EventHub, origin: str):
        self._url = url
        self._hub = hub
        self._origin = origin
        self._client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._warned = False

    def send(self, key: OperationKey, event: Event) -> None:
        message = {"origin": self._origin, "user_id": key.user_id, "operation_id": key.operation_id, "seq": event.seq, "type": event.type, "data": event.data}
        try:
            self._client.publish(CHANNEL, json.dumps(message, ensure_ascii=False))
        except redis.RedisError as error:
            # Stored already: streams on other replicas read it from the database within a second.
            if not self._warned:
                logger.warning("events are not relayed over Redis ({}); other replicas read them from the database", error)
            self._warned = True
        else:
            self._warned = False

    async def listen(self) -> None:
        """Hand the other processes' events to this process's hub until cancelled, reconnecting as needed."""
        while True:
            client = aioredis.from_url(self._url, socket_connect_timeout=5)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    logger.info("listening for events of other processes on Redis channel {}", CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._deliver(message["data"])
            except (redis.RedisError, OSError) as error:
                logger.warning("the event relay lost Redis ({}); retrying in {} s", error, RECONNECT_DELAY_S)
                await asyncio.sleep(RECONNECT_DELAY_S)
            finally:
                await client.aclose()

    def _deliver(self, raw: bytes) -> None:
        try:
            message = json.loads(raw)
            if message["origin"] == self._origin:
                return
            key = OperationKey(message["user_id"], message["operation_id"])
            self._hub.publish(key, Event(seq=int(message["seq"]), type=message["type"], data=message["data"]))
        except (ValueError, KeyError, TypeError) as error:
            logger.error("ignoring a malformed event on {}: {}", CHANNEL, error)

    def close(self) -> None:
        self._client.close()
