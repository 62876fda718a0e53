"""Many clients at once: a bounded queue answers 429 + Retry-After beyond its limit, and every
accepted operation finishes."""

from __future__ import annotations

import asyncio
import json

import httpx

from tests.conftest import create_body
from tests.serverproc import ServiceProcess

CLIENTS = 100


async def _create_all(base: str) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        requests = [
            client.post(
                "/api/v1/storyboard/create",
                json=create_body(operation_id=f"op-{n}", story_id=f"story-{n}", script_content="清晨她推开窗。河上漂着纸船。夜里她听见海浪。远方传来钟声。"),
                headers={"Prefer": "respond-async"},
            )
            for n in range(CLIENTS)
        ]
        return await asyncio.gather(*requests)


async def _wait_all(base: str, operation_ids: list[str]) -> list[dict]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        pending, finished = set(operation_ids), {}
        for _ in range(1200):
            for operation_id in list(pending):
                body = (await client.get(f"/api/v1/operations/{operation_id}")).json()
                if body["status"] not in ("Queued", "Running"):
                    finished[operation_id] = body
                    pending.discard(operation_id)
            if not pending:
                return list(finished.values())
            await asyncio.sleep(0.1)
        raise AssertionError(f"{len(pending)} accepted operations never finished")


def test_hundred_concurrent_creates_are_accepted_or_told_to_retry(tmp_path):
    service = ServiceProcess(tmp_path, MAX_RUNNING_OPERATIONS="2", MAX_QUEUED_OPERATIONS="10", QUEUE_RETRY_AFTER_S="3", DEFAULT_RESOLUTION="144")
    try:
        service.wait_healthy()
        responses = asyncio.run(_create_all(service.base))
        accepted = [r for r in responses if r.status_code == 202]
        rejected = [r for r in responses if r.status_code == 429]
        assert len(accepted) + len(rejected) == CLIENTS, {r.status_code for r in responses}
        assert 1 <= len(accepted) and len(rejected) >= 1
        for response in rejected:
            assert response.headers["Retry-After"] == "3" and response.json()["error"]["code"] == "queue_full"
        finished = asyncio.run(_wait_all(service.base, [r.json()["operation_id"] for r in accepted]))
        assert {op["status"] for op in finished} == {"Success"}
        for response in rejected[:5]:
            operation_id = json.loads(response.request.read())["operation_id"]
            assert httpx.get(f"{service.base}/api/v1/operations/{operation_id}").status_code == 404
    finally:
        service.stop()
