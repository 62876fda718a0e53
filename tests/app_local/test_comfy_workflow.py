"""Workflows and bindings: shipped ones agree, mismatches stop the start-up naming node and input;
generation sizes and clip plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app_local.comfy import build_image_generator, build_video_generator, is_configured, shared_pool
from app_local.comfy.clips import plan_clip
from app_local.comfy.sizes import generation_size
from app_local.comfy.workflow import binding_path, load_workflow, nodes_needed
from story2video.config import PROJECT_ROOT
from story2video.errors import ConfigurationError
from tests.conftest import small_settings
from tests.fakes.comfy_support import TEXT_TO_IMAGE, clip_request, comfy_settings

SHIPPED = PROJECT_ROOT / "comfy_workflows"


def test_shipped_workflows_agree_with_their_bindings():
    image = load_workflow(SHIPPED / "sdxl_text_to_image.json", "image")
    video = load_workflow(SHIPPED / "svd_image_to_video.json", "video")
    assert (image.name, video.name) == ("sdxl-base-1.0", "svd-xt")
    assert image.output_node == "9" and video.output_node == "7"
    assert video.binding.max_frames == 25


def test_default_settings_point_at_the_shipped_workflows(tmp_path):
    settings = small_settings(tmp_path)
    assert settings.comfy_image_workflow == SHIPPED / "sdxl_text_to_image.json"
    assert settings.comfy_video_workflow == SHIPPED / "svd_image_to_video.json"
    image = build_image_generator(settings)
    video = build_video_generator(settings)
    assert (image.backend, image.model) == ("comfyui", "sdxl-base-1.0")
    assert (video.backend, video.model) == ("comfyui", "svd-xt")


def test_the_providers_of_a_process_share_one_pool(tmp_path):
    settings = comfy_settings(tmp_path, urls=("http://127.0.0.1:1", "http://127.0.0.1:2"))
    image, video = build_image_generator(settings), build_video_generator(settings)
    pool = shared_pool(settings)
    assert pool is shared_pool(settings) and pool.urls == ["http://127.0.0.1:1", "http://127.0.0.1:2"]
    assert image._runner.pool is video._runner.pool is pool


def test_is_configured_follows_the_host_list(tmp_path):
    assert is_configured(small_settings(tmp_path, comfy_hosts="http://127.0.0.1:1"))
    assert not is_configured(small_settings(tmp_path, comfy_hosts=" , "))


def test_fill_writes_every_target_and_leaves_the_original_alone():
    workflow = load_workflow(SHIPPED / "svd_image_to_video.json", "video")
    graph = workflow.fill({"fps": 8, "frames": 14, "image": "story2video-abc.png", "prompt": "not bound by SVD"})
    assert graph["3"]["inputs"]["fps"] == 8 and graph["7"]["inputs"]["fps"] == 8
    assert graph["3"]["inputs"]["video_frames"] == 14
    assert graph["2"]["inputs"]["image"] == "story2video-abc.png"
    assert workflow.graph["3"]["inputs"]["fps"] == 6
    assert graph["3"]["inputs"]["init_image"] == ["2", 0]


def test_nodes_needed_follows_links_from_the_output():
    workflow = load_workflow(TEXT_TO_IMAGE, "image")
    assert nodes_needed(workflow.graph, "9") == {"1", "5", "2", "9"}


# ---------------------------------------------------------------- mismatches, rejected by the builders


def _copy_pair(tmp_path: Path, edit_binding=None, edit_graph=None) -> Path:
    graph = json.loads(TEXT_TO_IMAGE.read_text())
    binding = json.loads(binding_path(TEXT_TO_IMAGE).read_text())
    if edit_graph:
        edit_graph(graph)
    if edit_binding:
        edit_binding(binding)
    workflow = tmp_path / "mine.json"
    workflow.write_text(json.dumps(graph))
    binding_path(workflow).write_text(json.dumps(binding))
    return workflow


def _build_image(tmp_path: Path, workflow: Path):
    return build_image_generator(comfy_settings(tmp_path, urls=("http://127.0.0.1:1",), comfy_image_workflow=workflow))


def test_a_binding_naming_a_missing_node_is_rejected(tmp_path):
    workflow = _copy_pair(tmp_path, edit_binding=lambda b: b["inputs"]["seed"].update(node="42"))
    with pytest.raises(ConfigurationError, match=r"parameter 'seed' names node 42, which the workflow does not have"):
        _build_image(tmp_path, workflow)


def test_a_binding_naming_a_missing_input_is_rejected(tmp_path):
    workflow = _copy_pair(tmp_path, edit_binding=lambda b: b["inputs"]["width"].update(input="wide"))
    with pytest.raises(ConfigurationError) as caught:
        _build_image(tmp_path, workflow)
    assert "input 'wide' of node 1 (EmptyImage)" in caught.value.message
    assert "batch_size, color, height, width" in caught.value.message


def test_a_binding_expecting_another_class_is_rejected(tmp_path):
    workflow = _copy_pair(tmp_path, edit_graph=lambda g: g["1"].update(class_type="EmptyLatentImage"))
    with pytest.raises(ConfigurationError, match=r"node 1 to be EmptyImage, but the workflow's node 1 is EmptyLatentImage"):
        _build_image(tmp_path, workflow)


def test_the_output_node_is_checked_too(tmp_path):
    workflow = _copy_pair(tmp_path, edit_binding=lambda b: b["output"].update(class_type="SaveAnimatedWEBP"))
    with pytest.raises(ConfigurationError, match=r"output expects node 9 to be SaveAnimatedWEBP"):
        _build_image(tmp_path, workflow)


def test_binding_a_linked_input_is_rejected(tmp_path):
    edit = lambda b: b["inputs"]["prompt"].update(node="2", class_type="ImageInvert", input="image")  # noqa: E731
    workflow = _copy_pair(tmp_path, edit_binding=edit)
    with pytest.raises(ConfigurationError, match=r"input 'image' of node 2 \(ImageInvert\), which is a link"):
        _build_image(tmp_path, workflow)


def test_unknown_and_missing_parameters_are_rejected(tmp_path):
    unknown = _copy_pair(tmp_path, edit_binding=lambda b: b["inputs"].update(steps=b["inputs"]["seed"]))
    with pytest.raises(ConfigurationError, match="unknown parameter.*steps"):
        _build_image(tmp_path, unknown)
    missing = _copy_pair(tmp_path, edit_binding=lambda b: b["inputs"].pop("prompt"))
    with pytest.raises(ConfigurationError, match="must bind prompt"):
        _build_image(tmp_path, missing)


def test_a_video_binding_for_an_image_workflow_is_rejected(tmp_path):
    with pytest.raises(ConfigurationError, match="binding's kind is 'image', expected 'video'"):
        build_video_generator(comfy_settings(tmp_path, urls=("http://127.0.0.1:1",), comfy_video_workflow=TEXT_TO_IMAGE))


def test_ui_format_and_missing_files_are_rejected(tmp_path):
    ui = tmp_path / "ui.json"
    ui.write_text(json.dumps({"nodes": [], "links": [], "version": 0.4}))
    with pytest.raises(ConfigurationError, match="UI-format workflow"):
        _build_image(tmp_path, ui)
    with pytest.raises(ConfigurationError, match="does not exist"):
        _build_image(tmp_path, tmp_path / "absent.json")
    lonely = tmp_path / "lonely.json"
    lonely.write_text(TEXT_TO_IMAGE.read_text())
    with pytest.raises(ConfigurationError, match=r"binding .*lonely.binding.json does not exist"):
        _build_image(tmp_path, lonely)


def test_a_malformed_binding_names_the_field(tmp_path):
    workflow = _copy_pair(tmp_path, edit_binding=lambda b: b.update(size_multiple=0))
    with pytest.raises(ConfigurationError, match="size_multiple"):
        _build_image(tmp_path, workflow)


def test_hosts_must_be_urls(tmp_path):
    with pytest.raises(ConfigurationError, match="'localhost:8188' is not an http"):
        build_image_generator(comfy_settings(tmp_path, urls=("localhost:8188",)))


# ---------------------------------------------------------------- sizes and clip plans


@pytest.mark.parametrize(
    ("size", "multiple", "budget", "expected"),
    [
        ((1280, 720), 64, 1024 * 1024, (1280, 704)),  # within budget: nearest multiples
        ((1920, 1080), 64, 1024 * 1024, (1344, 768)),  # scaled into the budget, rounded down
        ((1280, 720), 64, 1024 * 576, (1024, 576)),
        ((100, 60), 8, None, (96, 64)),
        ((20, 20), 64, None, (64, 64)),  # never below one multiple
    ],
)
def test_generation_size(size, multiple, budget, expected):
    assert generation_size(*size, multiple, budget) == expected


def test_clip_plan_caps_frames_and_fps(tmp_path):
    binding = load_workflow(SHIPPED / "svd_image_to_video.json", "video").binding
    plan = plan_clip(clip_request(tmp_path / "k.png", duration=6.0, fps=24, width=1280, height=720), binding)
    assert (plan.fps, plan.frames, plan.width, plan.height) == (8, 25, 1024, 576)
    short = plan_clip(clip_request(tmp_path / "k.png", duration=0.5, fps=24), binding)
    assert (short.fps, short.frames) == (8, 4)
