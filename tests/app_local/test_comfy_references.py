"""Reference pictures through ComfyUI: a workflow that binds ``reference_images`` gets each character's
portrait uploaded with /upload/image and bound into its LoadImage slots (slots left over are cut out of
the graph); a workflow without the parameter gets the characters as text only."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from app_api import build_providers
from app_local.comfy import build_image_generator, build_video_generator
from app_local.comfy.workflow import load_workflow
from tests.conftest import create_body, small_settings
from tests.fakes.comfy_support import REFERENCE_TO_IMAGE, ComfyFactory, comfy_settings, fake_comfy_hosts

SCRIPT = (
    "The rain fell all night over the quiet harbour town. Tom opened the door of the boathouse and looked out. "
    '"Is anybody there?" Tom asked. Far away, Anna stood alone at the window of the lighthouse. '
    '"I am the keeper\'s daughter," she said. Tom and Anna met on the pier before dawn.'
)
USER = {"user_id": "u-001"}


@pytest.fixture
def comfy_servers(tmp_path: Path) -> Iterator[ComfyFactory]:
    with fake_comfy_hosts(tmp_path) as start:
        yield start


def _render(make_client, tmp_path, server, **overrides):
    settings = comfy_settings(tmp_path, server, **overrides)
    providers = replace(build_providers(small_settings(tmp_path)), image=build_image_generator(settings), video=build_video_generator(settings))
    client = make_client(providers=providers)
    created = client.post("/api/v1/storyboard/create", json=create_body(script_content=SCRIPT, shot_count=4))
    assert created.status_code == 200, created.text
    rendered = client.post("/api/v1/video/render", json={"operation_id": "op-r", "story_id": "story-001", **USER})
    assert rendered.status_code == 200, rendered.text
    return client.app.state.engine.deps


def _keyframe_graphs(server) -> list[dict]:
    return [body["prompt"] for body in server.prompts if any(node["class_type"] == "EmptyImage" for node in body["prompt"].values())]


def test_the_portraits_are_uploaded_and_bound_into_the_reference_workflow(make_client, tmp_path, comfy_servers):
    server = comfy_servers()
    deps = _render(make_client, tmp_path, server, comfy_image_workflow=REFERENCE_TO_IMAGE)
    cast = {c.character_id: c for c in deps.stories.list_cast("u-001", "story-001")}
    shots = deps.stories.list_shots("u-001", "story-001")
    assert {c.name for c in cast.values()} == {"Tom", "Anna"}
    assert any(len(shot.characters) == 2 for shot in shots) and any(not shot.characters for shot in shots)

    portraits = {cid: deps.store.path_of(deps.store.get(c.reference_key)).read_bytes() for cid, c in cast.items()}
    assert all(deps.store.get(c.reference_key).kind == "portrait" and deps.store.get(c.reference_key).backend == "comfyui"
               for c in cast.values())
    uploaded = {name: (server.folders.input / name).read_bytes() for name in server.uploads}
    graphs = {graph["3"]["inputs"]["value"]: graph for graph in _keyframe_graphs(server)}
    for shot in shots:
        (graph,) = [graph for prompt, graph in graphs.items() if shot.detail.strip() in prompt]
        slots = [graph.get(node) for node in ("11", "12")]
        for index, character_id in enumerate(shot.characters):
            name = slots[index]["inputs"]["image"]
            assert uploaded[name] == portraits[character_id], f"slot {index + 1} of {shot.shot_id} holds its character's portrait"
            assert cast[character_id].appearance in graph["3"]["inputs"]["value"]
        for index in range(len(shot.characters), 2):
            assert slots[index] is None, "a slot without a reference is cut out"
        stitches = [graph["13"]["inputs"], graph["14"]["inputs"]]
        assert ["image2" in inputs for inputs in stitches] == [index < len(shot.characters) for index in range(2)]
    portrait_graphs = [graph for graph in _keyframe_graphs(server) if "11" not in graph]
    assert len(portrait_graphs) >= len(cast)  # the portraits themselves were drawn without references


def test_a_workflow_without_reference_slots_gets_the_characters_as_text(make_client, tmp_path, comfy_servers):
    server = comfy_servers()
    deps = _render(make_client, tmp_path, server)  # the plain text-to-image workflow
    cast = {c.character_id: c for c in deps.stories.list_cast("u-001", "story-001")}
    prompts = [graph["3"]["inputs"]["value"] for graph in _keyframe_graphs(server)]
    for shot in deps.stories.list_shots("u-001", "story-001"):
        (prompt,) = [prompt for prompt in prompts if shot.detail.strip() in prompt]
        for character_id in shot.characters:
            assert f"{cast[character_id].name}: {cast[character_id].appearance}" in prompt
    keyframe_uploads = len(server.uploads) - len(deps.stories.list_shots("u-001", "story-001"))  # clips upload keyframes
    assert keyframe_uploads == 0


def test_reference_images_is_an_image_parameter_checked_like_the_others():
    workflow = load_workflow(REFERENCE_TO_IMAGE, "image")
    assert workflow.slots("reference_images") == 2
    filled = workflow.fill({"reference_images": ["a.png"], "prompt": "x"})
    assert filled["11"]["inputs"]["image"] == "a.png" and "12" not in filled and "image2" not in filled["14"]["inputs"]
    assert filled["13"]["inputs"]["image2"] == ["11", 0]
    assert workflow.graph["12"]["inputs"]["image"] == "placeholder.png", "the workflow itself is not changed"


def test_the_shipped_reference_workflow_loads_and_cuts_unused_slots():
    shipped = Path(__file__).resolve().parents[2] / "comfy_workflows" / "qwen_image_edit_references.json"
    workflow = load_workflow(shipped, "image")
    assert workflow.slots("reference_images") == 3
    one = workflow.fill({"reference_images": ["tom.png"], "prompt": "Tom on the pier."})
    for encoder in ("76", "77"):
        assert one[encoder]["inputs"]["image1"] == ["41", 0]
        assert "image2" not in one[encoder]["inputs"] and "image3" not in one[encoder]["inputs"]
    assert one["41"]["inputs"]["image"] == "tom.png" and "42" not in one and "43" not in one
    none = workflow.fill({"reference_images": []})
    assert not any(name.startswith("image") for name in none["76"]["inputs"]), "no references: plain text to image"
