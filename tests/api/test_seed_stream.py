"""Seed 000's script generator endpoints, with the request examples of its document sent unchanged."""

from __future__ import annotations

from tests.api.test_scripts import read_events

SEED_GENERATE = """{
  "genre": "都市职场",
  "duration": "3分钟",
  "episodes": 8,
  "characters": ["张明,男,28", "李婷,女,25", "王总,男,45"]
}"""
SEED_EXTRACT = """{
  "task_id": "21f8d32a-1c3e-4e69-8123-afed96e7a321",
  "episode": 1
}"""
SEED_TASK = "21f8d32a-1c3e-4e69-8123-afed96e7a321"
JSON = {"Content-Type": "application/json"}


def seed_events(response) -> list[dict]:
    events = read_events(response)
    for name, data, _ in events:
        assert data["type"] == name  # the name is in the SSE event line and in the data
    return [data for _, data, _ in events]


def test_generate_script_with_the_seed_example(make_client):
    client = make_client(script_preview_delay_s=0.0)
    with client.stream("POST", "/api/stream/generate-script", content=SEED_GENERATE, headers=JSON) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        events = seed_events(response)
    assert events[0]["type"] == "task_id"
    task_id = events[0]["task_id"]
    assert all(event["task_id"] == task_id for event in events)
    assert events[-1]["type"] == "complete"
    progress = [event["progress"] for event in events if event["type"] == "progress"]
    assert progress == sorted(progress) and progress[-1] == 100
    assert sum(1 for event in events if event["type"] == "episode") == 8
    script = client.get(f"/api/v1/scripts/{task_id}", params={"user_id": "stream"}).json()
    assert [c["name"] for c in script["cast"]][:3] == ["张明", "李婷", "王总"] and script["genre"] == "都市职场"
    first = "".join(e["content"] for e in events if e["type"] == "content" and e["section"] == "episode" and e["episode"] == 1)
    assert first == script["episodes"][0]["text"] and "【场景1】" in first


def test_cancel_stops_the_generation_and_keeps_what_was_written(make_client):
    client = make_client(script_preview_delay_s=0.02)
    with client.stream("POST", "/api/stream/generate-script", content=SEED_GENERATE, headers=JSON) as response:
        seen: list = []

        def cancel_once_writing(events):
            if sum(1 for name, data, _ in events if name == "content" and data["section"] == "episode") == 3 and not seen:
                seen.append(client.delete(f"/api/stream/cancel/{events[0][1]['task_id']}"))
            return events[-1][0] in ("complete", "cancelled", "error")

        events = read_events(response, stop=cancel_once_writing)
    assert seen[0].status_code == 200 and seen[0].json()["success"] is True
    assert events[-1][0] == "cancelled"
    task_id = events[0][1]["task_id"]
    script = client.get(f"/api/v1/scripts/{task_id}", params={"user_id": "stream"}).json()
    assert script["status"] == "cancelled" and script["episodes"][0]["text"]  # the text written so far stays
    again = client.delete(f"/api/stream/cancel/{task_id}")
    assert again.status_code == 200 and again.json()["success"] is False


def test_extract_scene_prompts_with_the_seed_example(make_client):
    client = make_client(script_preview_delay_s=0.0)
    written = client.post(
        "/api/v1/scripts",
        json={"operation_id": SEED_TASK, "user_id": "stream", "script_id": SEED_TASK, "premise": "新人逆袭", "episodes": 2, "characters": ["张明,男,28"]},
    )
    assert written.status_code == 200, written.text
    with client.stream("POST", f"/api/stream/extract-scene-prompts/{SEED_TASK}", content=SEED_EXTRACT, headers=JSON) as response:
        assert response.status_code == 200
        events = seed_events(response)
    prompts = [event for event in events if event["type"] == "prompt"]
    scenes = written.json()["script"]["episodes"][0]["scenes"]
    assert len(prompts) == scenes and {p["episode"] for p in prompts} == {1} and events[-1]["type"] == "complete"

    with client.stream("GET", f"/api/stream/extract-scene-prompts/{SEED_TASK}") as response:  # as the seed's page calls it
        events = seed_events(response)
    assert {p["episode"] for p in events if p["type"] == "prompt"} == {1, 2}
    wrong = client.post(f"/api/stream/extract-scene-prompts/{SEED_TASK}", json={"task_id": "other", "episode": 1})
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "task_id"
    assert client.post("/api/stream/extract-scene-prompts/unknown-task", json={}).status_code == 404
