"""Which fixed values of a workflow a host must offer, read from ComfyUI's object_info shapes."""

from __future__ import annotations

import pytest

from app_local.comfy.inventory import FixedValue, WorkflowNeeds, choices
from app_local.comfy.workflow import load_workflow
from story2video.config import PROJECT_ROOT
from tests.fakes.comfy_support import IMAGE_TO_WEBP, TEXT_TO_IMAGE

SDXL = PROJECT_ROOT / "comfy_workflows" / "sdxl_text_to_image.json"
SVD = PROJECT_ROOT / "comfy_workflows" / "svd_image_to_video.json"


def test_the_shipped_sdxl_workflow_needs_its_checkpoint_and_sampler_choices_but_not_its_bound_inputs():
    needs = WorkflowNeeds.of(load_workflow(SDXL, "image"))
    values = {(value.class_type, value.input): value.value for value in needs.values}
    assert values[("CheckpointLoaderSimple", "ckpt_name")] == "sd_xl_base_1.0.safetensors"
    assert ("KSampler", "sampler_name") in values
    assert ("KSampler", "seed") not in values and ("EmptyLatentImage", "width") not in values  # the binding fills them
    assert ("CLIPTextEncode", "text") not in values
    assert "CheckpointLoaderSimple" in needs.classes and needs.name == "sdxl-base-1.0"


def test_the_uploaded_image_is_not_a_need_of_an_image_to_video_workflow():
    for path in (SVD, IMAGE_TO_WEBP):
        needs = WorkflowNeeds.of(load_workflow(path, "video"))
        assert not [value for value in needs.values if value.class_type == "LoadImage" and value.input == "image"]


def test_nodes_the_output_does_not_depend_on_are_not_needs():
    needs = WorkflowNeeds.of(load_workflow(TEXT_TO_IMAGE, "image"))  # nodes 3 and 4 feed nothing
    assert {node for node, _ in needs.nodes} == {"1", "2", "5", "9"}
    assert FixedValue("9", "SaveImage", "filename_prefix", "story2video/keyframe") in needs.values


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"input": {"required": {"ckpt_name": [["a.safetensors", "b.safetensors"], {}]}}}, ["a.safetensors", "b.safetensors"]),
        ({"input": {"required": {"ckpt_name": ["COMBO", {"options": ["a.safetensors"]}]}}}, ["a.safetensors"]),
        ({"input": {"required": {}, "optional": {"ckpt_name": [["x.ckpt"]]}}}, ["x.ckpt"]),
        ({"input": {"required": {"ckpt_name": ["STRING", {"multiline": False}]}}}, None),
        ({"input": {"required": {"ckpt_name": ["INT", {"min": 0}]}}}, None),
        ({"input": {"required": {"other": [["a"], {}]}}}, None),
        ({}, None),
    ],
    ids=["classic-list", "combo-options", "optional", "string", "int", "other-input", "no-input-section"],
)
def test_choices_come_from_either_input_spec_shape(info, expected):
    assert choices(info, "ckpt_name") == expected
