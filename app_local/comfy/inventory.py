"""What a workflow needs from a host besides a free GPU: its node classes installed, and each fixed
choice it makes (a checkpoint, VAE, CLIP, UNet or LoRA file, an upscale model, a sampler name)
among those the host offers.

ComfyUI describes each node class at ``GET /object_info/<class>`` (``{}`` for a class it lacks).
An input whose spec is ``[[choice, ...], {...}]`` (or ``["COMBO", {"options": [...]}]`` on its newer
node schema) takes one of those strings; for a loader they are the files in its model folder. A
prompt naming anything else is refused ("Value not in list"), so such a host cannot run the
workflow: it is not ready for it, and the pool sends it no prompt of that workflow. Inputs the
binding fills per request (the uploaded image) are not checked.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from app_local.comfy.client import ComfyClient
from app_local.comfy.failures import HostFailure
from app_local.comfy.workflow import BoundWorkflow, is_link, nodes_needed
from story2video.errors import BackendError

_SHOWN_CHOICES = 8


@dataclass(frozen=True)
class FixedValue:
    """A literal input value of a workflow node: ``node 4 (CheckpointLoaderSimple) ckpt_name = "sd_xl_base_1.0.safetensors"``."""

    node: str
    class_type: str
    input: str
    value: Any

    def where(self) -> str:
        return f"node {self.node} ({self.class_type}) input {self.input}"


@dataclass(frozen=True)
class WorkflowNeeds:
    key: str  # one per workflow file: what the pool remembers a host's answer under
    name: str
    nodes: tuple[tuple[str, str], ...]  # (node id, class) of every node the output depends on
    values: tuple[FixedValue, ...]

    @classmethod
    def of(cls, workflow: BoundWorkflow) -> WorkflowNeeds:
        bound = {(target.node, target.input) for targets in workflow.binding.inputs.values() for target in targets}
        needed = sorted(nodes_needed(workflow.graph, workflow.output_node))
        values = [
            FixedValue(node_id, workflow.graph[node_id]["class_type"], name, value)
            for node_id in needed
            for name, value in workflow.graph[node_id]["inputs"].items()
            if (node_id, name) not in bound and not is_link(value)
        ]
        nodes = tuple((node_id, workflow.graph[node_id]["class_type"]) for node_id in needed)
        return cls(key=str(workflow.path), name=workflow.name, nodes=nodes, values=tuple(values))

    @property
    def classes(self) -> list[str]:
        return sorted({class_type for _, class_type in self.nodes})


async def missing_on(client: ComfyClient, needs: WorkflowNeeds) -> list[str]:
    """What the client's host lacks to run the workflow, one line each; ``[]`` when it has all.
    HostFailure when the host does not answer."""
    infos = dict(zip(needs.classes, await asyncio.gather(*(_described(client, name) for name in needs.classes)), strict=True))
    lacking = [f"{class_type}: {info}" for class_type, info in infos.items() if isinstance(info, str)]
    absent = [f"node {node_id} ({class_type})" for node_id, class_type in needs.nodes if infos[class_type] is None]
    if absent:
        lacking.append(f"node classes not installed on this host: {', '.join(absent)}")
    for value in needs.values:
        info = infos[value.class_type]
        offered = choices(info, value.input) if isinstance(info, dict) else None
        if offered is not None and value.value not in offered:
            lacking.append(f"{value.where()}: {value.value!r} is not on this host ({_listing(offered)})")
    return lacking


async def _described(client: ComfyClient, class_type: str) -> dict | str | None:
    """The class's object_info entry; None when the host has no such class; why it cannot be read."""
    try:
        return await client.object_info(class_type)
    except HostFailure:
        raise
    except BackendError as error:
        return f"its description cannot be read ({error.message})"


def choices(info: dict, input_name: str) -> list | None:
    """The values ``input_name`` may take per the class's object_info entry; None if it is not a choice."""
    sections = info.get("input") if isinstance(info.get("input"), dict) else {}
    for section in ("required", "optional"):
        specs = sections.get(section)
        spec = specs.get(input_name) if isinstance(specs, dict) else None
        if not isinstance(spec, list) or not spec:
            continue
        if isinstance(spec[0], list):
            return spec[0]
        options = spec[1].get("options") if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict) else None
        return options if isinstance(options, list) else None
    return None


def _listing(offered: list) -> str:
    if not offered:
        return "it has none"
    shown = ", ".join(str(choice) for choice in offered[:_SHOWN_CHOICES])
    more = len(offered) - _SHOWN_CHOICES
    return f"it has {shown}" + (f" and {more} more" if more > 0 else "")
