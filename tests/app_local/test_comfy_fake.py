"""The fake ComfyUI keeps to the real protocol (shared/ref/comfyui-protocol.md), so the client tests mean something."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websocket

from app_local.comfy.workflow import load_workflow
from tests.fakes.comfy_support import TEXT_TO_IMAGE, ComfyFactory, fake_comfy_hosts


@pytest.fixture
def comfy_servers(tmp_path: Path) -> Iterator[ComfyFactory]:
    with fake_comfy_hosts(tmp_path) as start:
        yield start


def _graph() -> dict:
    return load_workflow(TEXT_TO_IMAGE, "image").graph


def _messages_until_done(socket: websocket.WebSocket, prompt_id: str) -> tuple[list[str], int]:
    """Message types in order, and how many binary frames came, up to ``executing`` with node null."""
    kinds, binary = [], 0
    while True:
        opcode, payload = socket.recv_data()
        if opcode == websocket.ABNF.OPCODE_BINARY:
            binary += 1
            continue
        message = json.loads(payload)
        kinds.append(message["type"])
        if message["type"] == "executing" and message["data"]["node"] is None and message["data"]["prompt_id"] == prompt_id:
            return kinds, binary


def test_messages_come_in_comfyui_order_and_history_waits_for_the_end(comfy_servers):
    server = comfy_servers(node_delay_s=0.1)
    client_id, prompt_id = "tester", str(uuid.uuid4())
    socket = websocket.create_connection(f"ws://127.0.0.1:{server.url.rsplit(':', 1)[1]}/ws?clientId={client_id}", timeout=10)
    try:
        accepted = httpx.post(f"{server.url}/prompt", json={"prompt": _graph(), "client_id": client_id, "prompt_id": prompt_id})
        assert accepted.json() == {"prompt_id": prompt_id, "number": 0, "node_errors": {}}
        assert httpx.get(f"{server.url}/history/{prompt_id}").json() == {}
        kinds, binary = _messages_until_done(socket, prompt_id)
    finally:
        socket.close()
    assert kinds[:4] == ["status", "execution_start", "execution_cached", "executing"]
    assert kinds[-3:] == ["execution_success", "status", "executing"]
    assert kinds.index("progress") < kinds.index("executed") < kinds.index("execution_success")
    assert binary > 0
    entry = httpx.get(f"{server.url}/api/history/{prompt_id}").json()[prompt_id]
    assert entry["status"]["status_str"] == "success" and entry["status"]["completed"] is True
    assert entry["outputs"]["9"]["images"][0]["subfolder"] == "story2video"
    assert entry["prompt"][1] == prompt_id and entry["prompt"][3] == {"client_id": client_id}


def test_validation_reports_each_node(comfy_servers):
    server = comfy_servers()
    graph = _graph()
    del graph["1"]["inputs"]["color"]
    graph["2"] = {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "magic", "width": 8,
                                                          "height": 8, "crop": "disabled"}}
    answer = httpx.post(f"{server.url}/prompt", json={"prompt": graph})
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    assert body["node_errors"]["1"]["errors"][0]["type"] == "required_input_missing"
    assert body["node_errors"]["2"]["errors"][0]["type"] == "value_not_in_list"
    assert body["node_errors"]["2"]["errors"][0]["extra_info"]["input_name"] == "upscale_method"
    assert body["node_errors"]["2"]["dependent_outputs"] == ["9"] and body["node_errors"]["2"]["class_type"] == "ImageScale"
    missing = httpx.post(f"{server.url}/prompt", json={"client_id": "x"})
    assert missing.status_code == 400 and missing.json()["error"]["type"] == "no_prompt"


def test_view_refuses_paths_that_escape(comfy_servers):
    server = comfy_servers()
    (server.folders.output / "seen.png").write_bytes(b"png")
    view = f"{server.url}/view"
    assert httpx.get(view, params={"filename": "seen.png"}).content == b"png"
    assert httpx.get(view, params={"filename": "../seen.png"}).status_code == 400
    assert httpx.get(view, params={"filename": "/etc/passwd"}).status_code == 400
    assert httpx.get(view, params={"filename": "seen.png", "subfolder": "../../"}).status_code == 403
    assert httpx.get(view, params={"filename": "absent.png"}).status_code == 404


def test_uploads_that_clash_are_renamed_unless_overwritten(comfy_servers):
    server = comfy_servers()

    def upload(overwrite: str) -> str:
        answer = httpx.post(f"{server.url}/upload/image", files={"image": ("key.png", b"data")}, data={"overwrite": overwrite})
        return answer.json()["name"]

    assert [upload("false"), upload("false"), upload("true")] == ["key.png", "key (1).png", "key.png"]


def test_queue_and_interrupt(comfy_servers):
    server = comfy_servers(node_delay_s=5.0)
    first = httpx.post(f"{server.url}/prompt", json={"prompt": _graph()}).json()["prompt_id"]
    second = httpx.post(f"{server.url}/prompt", json={"prompt": _graph()}).json()["prompt_id"]
    server.started.wait(10)
    queue = httpx.get(f"{server.url}/queue").json()
    assert [entry[1] for entry in queue["queue_running"]] == [first]
    assert [entry[1] for entry in queue["queue_pending"]] == [second]
    assert httpx.get(f"{server.url}/prompt").json() == {"exec_info": {"queue_remaining": 2}}
    httpx.post(f"{server.url}/queue", json={"delete": [second]})
    httpx.post(f"{server.url}/interrupt", json={"prompt_id": first})
    for _ in range(100):
        entry = httpx.get(f"{server.url}/history/{first}").json()
        if entry:
            break
        time.sleep(0.05)
    assert entry[first]["status"]["messages"][-1][0] == "execution_interrupted"
    assert httpx.get(f"{server.url}/queue").json() == {"queue_running": [], "queue_pending": []}


def test_object_info_describes_a_class_like_comfyui_and_an_unknown_one_as_empty(comfy_servers):
    server = comfy_servers(upscale_models=("a.pth", "b.pth"))
    loader = httpx.get(f"{server.url}/object_info/UpscaleModelLoader").json()["UpscaleModelLoader"]
    assert loader["input"]["required"]["model_name"] == [["a.pth", "b.pth"], {}]
    assert (loader["output"], loader["name"], loader["output_node"]) == (["UPSCALE_MODEL"], "UpscaleModelLoader", False)
    scale = httpx.get(f"{server.url}/api/object_info/ImageScale").json()["ImageScale"]["input"]["required"]
    assert scale["image"] == ["IMAGE"] and scale["width"][0] == "INT" and scale["width"][1]["max"] == 16384
    assert httpx.get(f"{server.url}/object_info/CheckpointLoaderSimple").json() == {}
    assert "SaveImage" in httpx.get(f"{server.url}/object_info").json()


def test_object_info_lists_the_input_folder_for_load_image_and_newer_nodes_use_combo(comfy_servers):
    server = comfy_servers(combo_style="COMBO")
    httpx.post(f"{server.url}/upload/image", files={"image": ("k.png", b"png bytes", "image/png")}).raise_for_status()
    load = httpx.get(f"{server.url}/object_info/LoadImage").json()["LoadImage"]["input"]["required"]["image"]
    assert load == [["k.png"], {"image_upload": True}]
    loader = httpx.get(f"{server.url}/object_info/UpscaleModelLoader").json()["UpscaleModelLoader"]
    assert loader["input"]["required"]["model_name"] == ["COMBO", {"options": ["2x-test.pth"]}]


def test_hang_up_resets_every_connection(comfy_servers):
    server = comfy_servers()
    with httpx.Client(base_url=server.url) as client:
        client.get("/queue").raise_for_status()
        server.hang_up()
        with pytest.raises(httpx.ReadError, match="Connection reset by peer"):
            client.get("/queue")
