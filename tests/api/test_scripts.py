"""Scripts from an idea through the API: streamed events in order, exact Last-Event-ID replay,
cancel in the middle of an episode, a restart in the middle of writing, the script as a resource,
scene prompts, and script → storyboard → render on preview."""

from __future__ import annotations

import json
import time

from fastapi.testclient import TestClient

from app_api import build_providers
from app_local.ollama import ollama_script_writer
from story2video.app import create_app
from story2video.scriptformat import split_scenes
from tests.conftest import small_settings
from tests.fakes.streaming_chat import FakeStreamingChat
from tests.mediacheck import streams

ASYNC = {"Prefer": "respond-async"}
USER = "u-001"
WRITE = {
    "operation_id": "op-script",
    "user_id": USER,
    "script_id": "script-001",
    "premise": "实习生张明在一次失误后被迫与上司李婷合作，揭开了公司里的秘密",
    "genre": "都市职场",
    "duration": "3分钟",
    "episodes": 2,
    "characters": ["张明,男,28", "李婷,女,25", "王总,男,45"],
    "style": "写实",
    "seed": 11,
}


def read_events(response, stop=None) -> list[tuple[str, dict, int | None]]:
    """(type, data, id) of an SSE response, until it ends or ``stop(events)`` says enough."""
    events, kind, event_id = [], None, None
    for line in response.iter_lines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("id: "):
            event_id = int(line[4:])
        elif line.startswith("data: "):
            events.append((kind, json.loads(line[6:]), event_id))
            event_id = None
            if stop is not None and stop(events):
                break
    return events


def all_events(client, operation_id: str, after: int = 0) -> list[tuple[str, dict, int | None]]:
    with client.stream("GET", f"/api/v1/operations/{operation_id}/events", headers={"Last-Event-ID": str(after)}) as response:
        assert response.status_code == 200
        return read_events(response)


def wait_terminal(client, operation_id: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/operations/{operation_id}").json()
        if body["status"] in ("Success", "Failed", "Cancelled"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"operation {operation_id} did not finish")


def get_script(client, script_id: str = "script-001") -> dict:
    response = client.get(f"/api/v1/scripts/{script_id}", params={"user_id": USER})
    assert response.status_code == 200, response.text
    return response.json()


def texts_by_part(events) -> dict[tuple[str, int | None], str]:
    """Each part's text put together from its deltas, checking that every delta continues the last."""
    texts: dict[tuple[str, int | None], str] = {}
    for kind, data, _ in events:
        if kind == "script.restart":
            texts[(data["part"], data["episode"])] = ""
        if kind == "script.delta":
            key = (data["part"], data["episode"])
            assert data["offset"] == len(texts.get(key, "")), f"a gap or a repeat in {key}"
            texts[key] = texts.get(key, "") + data["text"]
    return texts


def test_a_script_is_written_and_streamed_in_order(make_client):
    client = make_client(script_preview_delay_s=0.0)
    response = client.post("/api/v1/scripts", json=WRITE)
    assert response.status_code == 200, response.text
    written = response.json()["script"]
    assert [c["name"] for c in written["cast"]] == ["张明", "李婷", "王总"]
    assert written["status"] == "done" and [e["state"] for e in written["episodes"]] == ["done", "done"]

    events = all_events(client, "op-script")
    kinds = [kind for kind, _, _ in events if kind not in ("script.delta", "progress")]
    assert kinds == [
        "operation.started", "stage", "script.cast", "stage", "script.outline", "stage",
        "script.episode", "script.episode", "operation.completed",
    ]  # fmt: skip
    assert [data["stage"] for kind, data, _ in events if kind == "stage"] == ["cast", "outline", "episodes"]
    # every part's deltas come after the previous part's structured event and before its own
    sequence = [(data["part"], data["episode"]) if kind == "script.delta" else kind for kind, data, _ in events if kind.startswith("script.")]
    collapsed = [item for index, item in enumerate(sequence) if index == 0 or item != sequence[index - 1]]
    assert collapsed == [
        ("cast", None), "script.cast", ("outline", None), "script.outline", ("episode", 1), "script.episode", ("episode", 2), "script.episode"
    ]
    ids = [event_id for _, _, event_id in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)

    texts = texts_by_part(events)
    episodes = {data["episode"]: data for kind, data, _ in events if kind == "script.episode"}
    stored = get_script(client)
    for number in (1, 2):
        assert texts[("episode", number)] == episodes[number]["text"] == stored["episodes"][number - 1]["text"]
        assert episodes[number]["scenes"] == len(split_scenes(episodes[number]["text"])) == 3
    cast_event = next(data for kind, data, _ in events if kind == "script.cast")
    assert json.loads(texts[("cast", None)])["cast"] == cast_event["cast"] == stored["cast"]


def test_reconnect_with_last_event_id_misses_and_doubles_nothing(make_client):
    client = make_client(script_preview_delay_s=0.01)
    assert client.post("/api/v1/scripts", json=WRITE, headers=ASYNC).status_code == 202

    def enough(events):
        return sum(1 for kind, data, _ in events if kind == "script.delta" and data["part"] == "episode") >= 5

    with client.stream("GET", "/api/v1/operations/op-script/events", headers={"Last-Event-ID": "0"}) as response:
        first = read_events(response, stop=enough)  # the client drops in the middle of episode 1
    assert first[-1][0] == "script.delta" and not any(kind == "operation.completed" for kind, _, _ in first)
    rest = all_events(client, "op-script", after=first[-1][2])  # reconnects while it is still being written
    assert rest[-1][0] == "operation.completed"

    whole = all_events(client, "op-script")  # the same stream read in one go, after the end
    assert first + rest == whole
    middle = whole[len(whole) // 2][2]
    assert all_events(client, "op-script", after=middle) == whole[len(whole) // 2 + 1 :]  # also after it ended
    assert texts_by_part(whole)[("episode", 2)] == get_script(client)["episodes"][1]["text"]


def test_cancel_in_the_middle_of_an_episode_closes_the_model_request_and_keeps_the_text(make_client, tmp_path):
    fake = FakeStreamingChat(piece_chars=3).start()
    try:
        settings = small_settings(tmp_path, ollama_url=fake.url)
        providers = build_providers(settings)
        providers.script = ollama_script_writer(settings)
        client = make_client(providers=providers)
        cast = {"cast": [{"id": "zhang_ming", "name": "张明", "appearance": "二十八岁的男人，短发", "gender": "male", "age": "young", "timbre": ""},
                         {"id": "li_ting", "name": "李婷", "appearance": "二十五岁的女人，马尾", "gender": "female", "age": "young", "timbre": ""},
                         {"id": "wang", "name": "王总", "appearance": "四十五岁的男人，西装", "gender": "male", "age": "adult", "timbre": ""}]}  # fmt: skip
        outline = {"episodes": [{"episode": 1, "title": "开端", "summary": "张明犯错。"}, {"episode": 2, "title": "结局", "summary": "真相大白。"}]}
        episode = "【场景1】写字楼，清晨\n张明说：“早上好，李婷。”李婷说：“你迟到了。”\n\n【场景2】天台\n王总说：“都到齐了。”"
        fake.reply_with(json.dumps(cast, ensure_ascii=False), json.dumps(outline, ensure_ascii=False), episode)
        fake.hold_at, fake.hold_in_reply = 30, 2  # the model stalls 30 characters into episode 1 (the third reply)
        assert client.post("/api/v1/scripts", json=WRITE, headers=ASYNC).status_code == 202
        assert fake.holding.wait(20)
        deadline = time.monotonic() + 5
        while get_script(client)["episodes"][0]["text"] != episode[:30] and time.monotonic() < deadline:
            time.sleep(0.05)  # stored as it arrives

        assert client.post("/api/v1/operations/op-script/cancel").status_code == 202
        assert wait_terminal(client, "op-script", timeout=10)["status"] == "Cancelled"
        deadline = time.monotonic() + 5
        while fake.closed_early == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fake.closed_early == 1 and fake.finished == 2  # cast and outline ran to their end; the episode was cut off
        script = get_script(client)
        assert script["status"] == "cancelled"
        assert script["episodes"][0]["state"] == "cancelled" and script["episodes"][0]["text"] == episode[:30]
        assert script["episodes"][1]["state"] == "cancelled" and script["episodes"][1]["text"] == ""
        assert [c["id"] for c in script["cast"]] == ["zhang_ming", "li_ting", "wang"] and len(script["outline"]) == 2
        events = all_events(client, "op-script")
        assert texts_by_part(events)[("episode", 1)] == episode[:30] and events[-1][0] == "operation.cancelled"
    finally:
        fake.release()
        fake.stop()


def test_a_restart_in_the_middle_of_writing_leaves_finished_episodes_readable(make_client, tmp_path):
    settings = small_settings(tmp_path, script_preview_delay_s=0.02)
    first = TestClient(create_app(settings, build_providers(settings)))
    first.__enter__()
    try:
        assert first.post("/api/v1/scripts", json=WRITE, headers=ASYNC).status_code == 202
        with first.stream("GET", "/api/v1/operations/op-script/events", headers={"Last-Event-ID": "0"}) as response:
            events = read_events(response, stop=lambda seen: seen[-1][0] == "script.episode")
        finished = events[-1][1]["text"]
        deadline = time.monotonic() + 10
        while not first.get("/api/v1/scripts/script-001", params={"user_id": USER}).json()["episodes"][1]["text"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        first.__exit__(None, None, None)  # the service stops in the middle of episode 2

    second = make_client()  # and starts again on the same data
    script = get_script(second)
    assert script["status"] == "interrupted"
    assert script["episodes"][0]["state"] == "done" and script["episodes"][0]["text"] == finished
    assert script["episodes"][1]["state"] == "interrupted" and script["episodes"][1]["text"]  # the partial text stays
    assert second.get("/api/v1/operations/op-script").json()["status"] == "Failed"
    made = second.post("/api/v1/storyboard/create", json={"operation_id": "op-sb", "story_id": "s1", "user_id": USER, "script_id": "script-001", "episode": 1})
    assert made.status_code == 200, made.text  # a finished episode can be filmed
    refused = second.post("/api/v1/storyboard/create", json={"operation_id": "op-sb2", "story_id": "s2", "user_id": USER, "script_id": "script-001", "episode": 2})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "episode_not_written"

    again = second.post("/api/v1/scripts", json={**WRITE, "operation_id": "op-script-again"})  # the same request, a new id
    assert again.status_code == 200, again.text
    resumed = again.json()["script"]
    assert resumed["episodes"][0]["text"] == finished and [e["state"] for e in resumed["episodes"]] == ["done", "done"]
    events = all_events(second, "op-script-again")
    assert {data["episode"] for kind, data, _ in events if kind == "script.delta"} == {2}  # only the unfinished episode is written
    assert [data["episode"] for kind, data, _ in events if kind == "script.episode"] == [1, 2]
    fresh = second.post("/api/v1/scripts", json={**WRITE, "operation_id": "op-script-other", "episodes": 1}).json()["script"]
    assert [e["episode"] for e in fresh["episodes"]] == [1]  # other inputs: the script is written anew


def test_scripts_are_resources_listed_edited_and_deleted(make_client):
    client = make_client(script_preview_delay_s=0.0)
    assert client.post("/api/v1/scripts", json=WRITE).status_code == 200
    other = {**WRITE, "operation_id": "op-2", "script_id": "script-002", "premise": "A lighthouse keeper finds a letter", "characters": [], "genre": "mystery", "episodes": 1}
    assert client.post("/api/v1/scripts", json=other).status_code == 200
    listed = client.get("/api/v1/scripts", params={"user_id": USER}).json()
    assert {s["script_id"]: (s["episodes"], s["written"], s["status"]) for s in listed} == {"script-001": (2, 2, "done"), "script-002": (1, 1, "done")}
    assert get_script(client, "script-002")["language"] == "en"

    edited = "【场景1】会议室，上午\n张明说：“这是我改过的版本。”"
    response = client.patch("/api/v1/scripts/script-001/episodes/2", json={"user_id": USER, "text": edited, "title": "改写"})
    assert response.status_code == 200, response.text
    episode = response.json()["episodes"][1]
    assert (episode["state"], episode["text"], episode["title"], episode["scenes"]) == ("edited", edited, "改写", 1)
    assert client.patch("/api/v1/scripts/script-001/episodes/9", json={"user_id": USER, "text": "x"}).status_code == 404

    assert client.delete("/api/v1/scripts/script-002", params={"user_id": USER}).status_code == 204
    assert client.get("/api/v1/scripts/script-002", params={"user_id": USER}).status_code == 404
    assert [s["script_id"] for s in client.get("/api/v1/scripts", params={"user_id": USER}).json()] == ["script-001"]


def test_bad_script_requests_name_the_field(make_client):
    client = make_client(max_script_episodes=5)
    for change, param in (({"episodes": 6}, "episodes"), ({"premise": None}, "premise"), ({"characters": ["张明,男", "张明,女"]}, "characters")):
        body = {key: value for key, value in {**WRITE, **change}.items() if value is not None}
        response = client.post("/api/v1/scripts", json=body)
        assert response.status_code == 400 and response.json()["error"]["param"] == param, response.text
    assert client.post("/api/v1/storyboard/create", json={"operation_id": "o", "story_id": "s", "user_id": USER, "script_id": "nope"}).status_code == 404
    mixed = {"operation_id": "o", "story_id": "s", "user_id": USER, "script_id": "nope", "script_content": "你好。"}
    assert client.post("/api/v1/storyboard/create", json=mixed).json()["error"]["param"] == "script_id"


def test_scene_prompts_are_streamed_and_stored(make_client):
    client = make_client(script_preview_delay_s=0.0)
    client.post("/api/v1/scripts", json=WRITE)
    response = client.post("/api/v1/scripts/script-001/scene-prompts", json={"operation_id": "op-prompts", "user_id": USER, "episode": 2})
    assert response.status_code == 200, response.text
    [result] = response.json()["scene_prompts"]
    stored = get_script(client)["episodes"][1]
    assert result["episode"] == 2 and result["prompts"] == stored["scene_prompts"]
    assert [p["scene"] for p in stored["scene_prompts"]] == [1, 2, 3] and all(p["prompt"].startswith("写实") for p in stored["scene_prompts"])
    events = all_events(client, "op-prompts")
    assert [kind for kind, _, _ in events if kind.startswith("script.") and kind != "script.delta"] == ["script.scene_prompts"]
    assert json.loads(texts_by_part(events)[("scene_prompts", 2)])["prompts"][0]["prompt"] == stored["scene_prompts"][0]["prompt"]
    assert get_script(client)["episodes"][0]["scene_prompts"] == []  # only the episode asked for


def test_script_to_storyboard_to_render_on_preview(make_client):
    client = make_client(script_preview_delay_s=0.0)
    script = client.post("/api/v1/scripts", json=WRITE).json()["script"]
    body = {"operation_id": "op-story", "story_id": "story-from-script", "user_id": USER, "script_id": "script-001", "episode": 1, "style": "写实"}
    created = client.post("/api/v1/storyboard/create", json=body)
    assert created.status_code == 200, created.text
    shots = created.json()["shots"]
    narration = "".join(shot["narration"] for shot in shots)
    assert "场景" not in narration and "【" not in narration  # headings are not narrated
    assert all(shot["image_url"] for shot in shots)

    story = client.get("/api/v1/stories/story-from-script", params={"user_id": USER}).json()
    by_name = {c["name"]: c for c in script["cast"]}
    assert story["cast"], "the story has the script's cast"
    for character in story["cast"]:  # the script's characters, with the script's ids and looks
        assert character["character_id"] == by_name[character["name"]]["id"]
        assert character["appearance"] == by_name[character["name"]]["appearance"]
    speakers = {line["speaker"] for shot in shots for line in shot["lines"]}
    assert speakers - {"narrator"} <= {c["character_id"] for c in story["cast"]} and speakers - {"narrator"}

    rendered = client.post("/api/v1/video/render", json={"operation_id": "op-render", "story_id": "story-from-script", "user_id": USER})
    assert rendered.status_code == 200, rendered.text
    video = client.get(rendered.json()["video_url"])
    assert video.status_code == 200
    info = streams(video.content)
    assert info.video_codec == "h264" and info.audio_codec == "aac" and info.duration > 1
