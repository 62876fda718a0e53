"""The roles on separate processes: API replicas and Celery workers over a real Redis and a real
PostgreSQL, sharing one OUTPUT_DIR, doing the seed's three calls and surviving the faults a cluster
meets (a worker killed mid-render, Redis restarted, an API replica killed mid-stream, the database
gone)."""

from __future__ import annotations

import json
import time

import httpx
import psycopg

from tests.cluster.harness import Cluster, FakeDashScopeProcess, create_body, sse_events, task_seconds
from tests.media.avcheck import streams
from tests.servers.netns import HostNetwork
from tests.servers.postgres import running_postgres
from tests.servers.redis import RedisServer, start_redis

ASYNC = {"Prefer": "respond-async"}
RENDER = {"operation_id": "op-render", "story_id": "st-1", "user_id": "u1"}


def shot_media_run(worker) -> int:
    """How many shots' media the worker's log says it made."""
    return len(task_seconds(worker.output()).get("shot_media", []))


def test_the_seeds_three_calls_run_on_one_api_and_two_workers(cluster: Cluster, tmp_path) -> None:
    first, second = cluster.worker(), cluster.worker()
    api = cluster.api()
    ready = httpx.get(f"{api.base}/ready", timeout=10)
    assert ready.status_code == 200 and ready.json()["role"] == "api"
    assert sorted(w["worker_id"].rsplit("-", 2)[0] for w in ready.json()["queue"]["workers"]) == ["worker-1", "worker-2"]

    created = api.call("POST", "/storyboard/create", json=create_body("op-create"))
    assert created.status_code == 200, created.text
    shots = created.json()["shots"]
    assert created.json()["operation"]["status"] == "Success" and len(shots) >= 3
    regenerated = api.call(
        "POST", "/shot/regenerate", json={"operation_id": "op-regen", "story_id": "st-1", "user_id": "u1", "shot_id": shots[1]["id"], "detail": "the fox holds a glowing stone"}
    )
    assert regenerated.status_code == 200 and regenerated.json()["operation"]["status"] == "Success", regenerated.text
    rendered = api.call("POST", "/video/render", json=RENDER)
    assert rendered.status_code == 200 and rendered.json()["operation"]["status"] == "Success", rendered.text

    video = tmp_path / "video.mp4"
    video.write_bytes(httpx.get(rendered.json()["video_url"], timeout=30).content)
    made = streams(video)
    assert (made.video_codec, made.audio_codec) == ("h264", "aac") and made.duration > 5
    # The render's shots were spread: both workers made shot media, not one worker the whole render.
    for worker in (first, second):
        assert shot_media_run(worker) >= 1, worker.output()[-3000:]
    ran = sum(shot_media_run(w) for w in (first, second))
    assert ran == len(shots)


def test_a_worker_killed_mid_render_is_taken_over_and_no_dashscope_task_is_paid_twice(
    tmp_path, redis_server: RedisServer, postgres_url: str
) -> None:
    with FakeDashScopeProcess(tmp_path, "--video-seconds", "3") as fake, Cluster(tmp_path, postgres_url, redis_server.url, WORKER_CONCURRENCY="1", **fake.settings_env()) as cluster:
        workers = [cluster.worker(), cluster.worker()]  # one shot at a time each: some finish before the kill
        api = cluster.api()
        created = api.call("POST", "/storyboard/create", json=create_body("op-create"))
        assert created.status_code == 200, created.text
        shot_count = len(created.json()["shots"])
        assert api.call("POST", "/video/render", json=RENDER, headers=ASYNC).status_code == 202

        victim, done_before = _worker_waiting_on_a_video_task(postgres_url, fake, workers)
        killed_at = time.time()
        victim.kill()

        op = api.wait_status("op-render", timeout=180)
        assert op["status"] == "Success", (op, cluster.logs_text())
        stats = fake.stats()["submissions"]
        assert stats["video"] == shot_count and stats["image"] == shot_count  # polled after the takeover, not resubmitted
        survivor = next(w for w in workers if w is not victim)
        assert "taken over as attempt 1" in survivor.output()
        with psycopg.connect(postgres_url) as conn:
            attempt = conn.execute("SELECT attempt FROM operations WHERE operation_id='op-render'").fetchone()[0]
            leases = conn.execute("SELECT COUNT(*) FROM operation_leases").fetchone()[0]
            segments = conn.execute("SELECT created_at FROM artifacts WHERE kind='segment' ORDER BY created_at").fetchall()
        assert attempt == 1 and leases == 0
        assert len(segments) == shot_count  # one encode per shot, across both attempts
        # The segments finished before the kill were reused by the new attempt, not made again.
        assert sum(1 for (created_at,) in segments if created_at < killed_at) >= done_before >= 1


def _worker_waiting_on_a_video_task(database_url: str, fake: FakeDashScopeProcess, workers: list) -> tuple:
    """Once at least one shot is finished: the worker holding a shot whose image-to-video task DashScope
    is still running, and how many shots were finished then."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT shots FROM operations WHERE operation_id='op-render'").fetchone()
            done = sum(1 for shot in json.loads(row[0]).values() if shot.get("state") == "done") if row else 0
            holders = conn.execute("SELECT worker_id FROM operation_leases WHERE holder LIKE '%:media'").fetchall()
        running = {task["kind"] for task in fake.stats()["tasks"].values() if not task["done"]}
        if done >= 1 and "video" in running:
            for (worker_id,) in holders:
                for worker in workers:
                    if worker_id.startswith(f"{worker.name}-"):
                        return worker, done
        time.sleep(0.05)
    raise AssertionError("no worker ever waited on a video task after a shot had finished")


def test_work_queued_while_redis_restarts_runs_once_a_worker_comes(cluster: Cluster, redis_server: RedisServer) -> None:
    api = cluster.api()
    unready = httpx.get(f"{api.base}/ready", timeout=10)
    assert unready.status_code == 503 and unready.json()["queue"]["workers"] == []  # nobody would run the work
    accepted = api.call("POST", "/storyboard/create", json=create_body("op-queued"), headers=ASYNC)
    assert accepted.status_code == 202, accepted.text

    redis_server.stop()
    down = api.call("POST", "/storyboard/create", json=create_body("op-refused", story_id="st-2"), headers=ASYNC)
    assert down.status_code == 503 and down.json()["error"]["code"] == "queue_unavailable", down.text
    # Nothing is left waiting for a queue that did not take it: the same request may simply be sent again.
    assert api.call("GET", "/operations/op-refused", params={"user_id": "u1"}).status_code == 404
    redis_server.start()
    again = api.call("POST", "/storyboard/create", json=create_body("op-refused", story_id="st-2"), headers=ASYNC)
    assert again.status_code == 202, again.text

    cluster.worker()
    assert api.wait_status("op-queued", timeout=120)["status"] == "Success"
    assert api.wait_status("op-refused", timeout=120)["status"] == "Success"


def test_an_event_stream_resumes_on_another_replica_without_missing_an_event(cluster: Cluster) -> None:
    cluster.worker()
    first, second = cluster.api(), cluster.api()
    assert first.call("POST", "/storyboard/create", json=create_body("op-create")).status_code == 200
    assert first.call("POST", "/video/render", json=RENDER, headers=ASYNC).status_code == 202

    seen = sse_events(first.base, "op-render", stop_after=3)  # the snapshot and two events
    assert seen[0][1] == "snapshot" and all(event_id > 0 for event_id, _, _ in seen[1:])
    first.kill()  # the replica dies; the load balancer sends the client to the other one
    rest = sse_events(second.base, "op-render", last_event_id=str(seen[-1][0]))
    assert rest[-1][1] == "operation.completed"

    everything = [e[0] for e in sse_events(second.base, "op-render", last_event_id="0")]
    received = [e[0] for e in seen[1:]] + [e[0] for e in rest]
    assert received == [event_id for event_id in everything if event_id >= received[0]]  # the snapshot stood for those before


def test_a_cancel_on_one_replica_stops_the_work_a_worker_runs(tmp_path, redis_server: RedisServer, postgres_url: str) -> None:
    with FakeDashScopeProcess(tmp_path, "--video-seconds", "60") as fake, Cluster(tmp_path, postgres_url, redis_server.url, **fake.settings_env()) as cluster:
        worker = cluster.worker()
        first, second = cluster.api(), cluster.api()
        assert second.call("POST", "/storyboard/create", json=create_body("op-create")).status_code == 200
        assert second.call("POST", "/video/render", json=RENDER, headers=ASYNC).status_code == 202
        deadline = time.monotonic() + 60
        while fake.stats()["submissions"].get("video", 0) < 1:
            assert time.monotonic() < deadline, cluster.logs_text()
            time.sleep(0.1)

        cancelled = first.call("POST", "/operations/op-render/cancel", params={"user_id": "u1"})
        assert cancelled.status_code == 202 and cancelled.json()["status"] == "Cancelled", cancelled.text
        worker.wait_for_line("cancelled elsewhere; stopping its work here", timeout=10)
        polls = _video_polls(fake)
        time.sleep(2)
        assert _video_polls(fake) == polls  # the worker stopped polling the 60 s video task
        assert second.operation("op-render")["status"] == "Cancelled"


def _video_polls(fake: FakeDashScopeProcess) -> int:
    return sum(task["polls"] for task in fake.stats()["tasks"].values() if task["kind"] == "video")


def test_an_unreachable_database_answers_503_and_recovers(tmp_path, redis_server: RedisServer) -> None:
    with running_postgres() as server, Cluster(tmp_path, server.create_database(), redis_server.url) as cluster:
        cluster.worker()
        api = cluster.api()
        assert api.call("POST", "/storyboard/create", json=create_body("op-1")).status_code == 200
        server.crash()
        for method, path, body in (("GET", "/operations/op-1", None), ("POST", "/storyboard/create", create_body("op-2", story_id="st-2"))):
            answer = api.call(method, path, params={"user_id": "u1"}, json=body, timeout=60)
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"]["code"] == "database_unavailable"
        server.start()
        deadline = time.monotonic() + 30
        while api.call("GET", "/operations/op-1", params={"user_id": "u1"}).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.5)
        assert api.call("POST", "/storyboard/create", json=create_body("op-3", story_id="st-3")).status_code == 200


def test_workers_on_other_hosts_reach_the_broker_and_database_over_the_network(tmp_path, host_network: HostNetwork) -> None:
    address = host_network.server_address
    redis = start_redis(tmp_path, bind=address)
    try:
        with running_postgres(listen=address) as database, Cluster(tmp_path, database.create_database(), redis.url) as cluster:
            for _ in range(2):
                host = host_network.add_host()
                cluster.worker(launcher=host.command([]))
            api = cluster.api(host=address)
            assert api.call("POST", "/storyboard/create", json=create_body("op-create")).status_code == 200
            rendered = api.call("POST", "/video/render", json=RENDER)
            assert rendered.status_code == 200 and rendered.json()["operation"]["status"] == "Success", rendered.text
    finally:
        redis.kill()


def test_the_notification_socket_of_an_api_replica_carries_what_the_workers_do(cluster: Cluster) -> None:
    """SERVICE_ROLE=api: the workers store the events in PostgreSQL and relay them over Redis; a user's
    socket on a replica that runs none of the work gets every one, ending with seed 001's messages."""
    from websockets.sync.client import connect

    cluster.worker()
    api = cluster.api()
    socket_url = api.base.replace("http://", "ws://") + "/ws/notifications?user_id=u1"
    with connect(socket_url, open_timeout=10) as socket:
        assert api.call("POST", "/storyboard/create", json=create_body("op-create"), headers=ASYNC).status_code == 202
        seen = []
        deadline = time.monotonic() + 120
        while not (seen and seen[-1]["type"] == "segment_finished" and seen[-1]["segment_id"] == 2):
            assert time.monotonic() < deadline, seen[-5:]
            seen.append(json.loads(socket.recv(timeout=max(1.0, deadline - time.monotonic()))))
    types = [message["type"] for message in seen]
    assert types[0] == "operation.started" and "operation.completed" in types
    assert [m["segment_id"] for m in seen if m["type"] == "segment_finished"] == [1, 2]
    assert all(m["operation_id"] == "op-create" for m in seen)
