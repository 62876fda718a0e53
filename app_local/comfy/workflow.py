"""ComfyUI workflows (API format) and their bindings: which node input receives which request value.

A binding lives beside its workflow as ``<stem>.binding.json``. Both are read and checked against
each other at start-up, so a binding that names a node, class or input the workflow lacks stops the
service with a ConfigurationError naming it, instead of failing on every shot later.
The format is described in ``comfy_workflows/README.md``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from story2video.errors import ConfigurationError

WorkflowKind = Literal["image", "video"]
Graph = dict[str, dict[str, Any]]

# The request values a binding may route into a workflow, per kind; the required ones must be bound.
PARAMETERS: dict[str, tuple[str, ...]] = {
    "image": ("prompt", "negative_prompt", "seed", "width", "height", "reference_images"),
    "video": ("image", "prompt", "negative_prompt", "seed", "width", "height", "frames", "fps"),
}
# Parameters that carry a list: the n-th value goes to the n-th target, and a target left without a
# value (fewer references than slots) is cut out of the graph with every link to its node.
LIST_PARAMETERS = frozenset({"reference_images"})
REQUIRED_PARAMETERS: dict[str, tuple[str, ...]] = {
    "image": ("prompt", "width", "height"),
    "video": ("image",),
}


class InputTarget(BaseModel):
    """One node input that receives a value: ``{"node": "6", "class_type": "CLIPTextEncode", "input": "text"}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    node: str
    class_type: str
    input: str


class OutputTarget(BaseModel):
    """The node whose saved files are the result: ``{"node": "9", "class_type": "SaveImage"}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    node: str
    class_type: str


class Binding(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("", description="Model name shown in /ready and artifacts; default: the workflow's file stem")
    kind: WorkflowKind
    inputs: dict[str, tuple[InputTarget, ...]]
    output: OutputTarget
    size_multiple: int = Field(8, ge=1, description="Width and height sent are multiples of this")
    max_pixels: int | None = Field(None, ge=64 * 64, description="Generate at most this many pixels, then resize")
    max_frames: int | None = Field(None, ge=1, description="Most frames one run may generate (video)")
    max_fps: int | None = Field(None, ge=1, description="Highest frame rate asked of the workflow (video)")

    @field_validator("inputs", mode="before")
    @classmethod
    def _targets_as_lists(cls, value: Any) -> Any:
        """A parameter names one target (an object) or several (a list of objects)."""
        if isinstance(value, Mapping):
            return {name: [targets] if isinstance(targets, Mapping) else targets for name, targets in value.items()}
        return value


@dataclass(frozen=True)
class BoundWorkflow:
    """A workflow graph checked against its binding; ``fill`` makes the graph for one request."""

    path: Path
    graph: Graph
    binding: Binding

    @property
    def name(self) -> str:
        return self.binding.name or self.path.stem

    @property
    def output_node(self) -> str:
        return self.binding.output.node

    def binds(self, parameter: str) -> bool:
        return parameter in self.binding.inputs

    def bound_text(self, parameter: str) -> str:
        """The text the workflow itself holds where ``parameter`` is bound (its first target); "" if none."""
        targets = self.binding.inputs.get(parameter, ())
        value = self.graph[targets[0].node]["inputs"].get(targets[0].input) if targets else None
        return value if isinstance(value, str) else ""

    def fill(self, values: Mapping[str, Any]) -> Graph:
        """A copy of the graph with each bound parameter in ``values`` written to its node inputs.

        Parameters the workflow does not bind are ignored: e.g. SVD takes no text prompt.
        """
        graph = copy.deepcopy(self.graph)
        for parameter, value in values.items():
            targets = self.binding.inputs.get(parameter, ())
            if parameter in LIST_PARAMETERS:
                for target, item in zip(targets, value):
                    graph[target.node]["inputs"][target.input] = item
                for target in targets[len(value):]:
                    _cut_out(graph, target.node)
                continue
            for target in targets:
                graph[target.node]["inputs"][target.input] = value
        return graph

    def slots(self, parameter: str) -> int:
        """How many values a list parameter takes (its targets)."""
        return len(self.binding.inputs.get(parameter, ()))


def _cut_out(graph: Graph, node_id: str) -> None:
    """Remove a node and every input linked to it (such inputs must be optional, e.g. ``image2`` of
    TextEncodeQwenImageEditPlus or ImageStitch)."""
    graph.pop(node_id, None)
    for node in graph.values():
        inputs = node["inputs"]
        for name in [name for name, value in inputs.items() if is_link(value) and value[0] == node_id]:
            del inputs[name]


def nodes_needed(graph: Graph, output_node: str) -> set[str]:
    """``output_node`` and every node it depends on: what ComfyUI runs for it."""
    needed: set[str] = set()
    waiting = [output_node]
    while waiting:
        node_id = waiting.pop()
        if node_id in needed or node_id not in graph:
            continue
        needed.add(node_id)
        waiting.extend(value[0] for value in graph[node_id]["inputs"].values() if is_link(value))
    return needed


def binding_path(workflow_path: Path) -> Path:
    return workflow_path.with_name(f"{workflow_path.stem}.binding.json")


def load_workflow(workflow_path: Path, kind: WorkflowKind) -> BoundWorkflow:
    """Read a workflow and its binding and check them against each other; ConfigurationError if they disagree."""
    graph = _read_graph(workflow_path)
    binding = _read_binding(binding_path(workflow_path))
    where = f"{binding_path(workflow_path)} (for {workflow_path})"
    if binding.kind != kind:
        raise ConfigurationError(f"{where}: the binding's kind is '{binding.kind}', expected '{kind}'")
    _check_parameters(binding, where)
    for parameter, targets in binding.inputs.items():
        for target in targets:
            _check_input_target(graph, parameter, target, where)
    _check_node(graph, binding.output.node, binding.output.class_type, "output", where)
    return BoundWorkflow(path=workflow_path, graph=graph, binding=binding)


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(f"the ComfyUI {what} {path} does not exist") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"the ComfyUI {what} {path} is not readable JSON: {exc}") from exc


def _read_graph(path: Path) -> Graph:
    graph = _read_json(path, "workflow")
    if isinstance(graph, dict) and "nodes" in graph and "links" in graph:
        raise ConfigurationError(
            f"{path} is a UI-format workflow; export it from ComfyUI with 'Export (API)' instead"
        )
    if not isinstance(graph, dict) or not graph:
        raise ConfigurationError(f"{path} is not an API-format workflow (an object of node id -> node)")
    for node_id, node in graph.items():
        if not (isinstance(node, dict) and isinstance(node.get("class_type"), str) and isinstance(node.get("inputs"), dict)):
            raise ConfigurationError(f"{path}: node {node_id} needs a 'class_type' string and an 'inputs' object")
    return graph


def _read_binding(path: Path) -> Binding:
    raw = _read_json(path, "binding")
    try:
        return Binding.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors())
        raise ConfigurationError(f"the ComfyUI binding {path} is invalid: {problems}") from exc


def _check_parameters(binding: Binding, where: str) -> None:
    allowed = PARAMETERS[binding.kind]
    unknown = sorted(set(binding.inputs) - set(allowed))
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown parameter(s) {', '.join(unknown)}; a {binding.kind} binding may bind {', '.join(allowed)}"
        )
    missing = [name for name in REQUIRED_PARAMETERS[binding.kind] if name not in binding.inputs]
    if missing:
        raise ConfigurationError(f"{where}: the binding must bind {', '.join(missing)}")
    if "frames" in binding.inputs and binding.max_frames is None:
        raise ConfigurationError(f"{where}: a binding that binds 'frames' must set max_frames")
    for parameter, targets in binding.inputs.items():
        if not targets:
            raise ConfigurationError(f"{where}: parameter '{parameter}' names no node input")


def _check_node(graph: Graph, node_id: str, class_type: str, role: str, where: str) -> dict[str, Any]:
    node = graph.get(node_id)
    if node is None:
        raise ConfigurationError(f"{where}: {role} names node {node_id}, which the workflow does not have")
    if node["class_type"] != class_type:
        raise ConfigurationError(
            f"{where}: {role} expects node {node_id} to be {class_type}, but the workflow's node {node_id} "
            f"is {node['class_type']}"
        )
    return node


def _check_input_target(graph: Graph, parameter: str, target: InputTarget, where: str) -> None:
    role = f"parameter '{parameter}'"
    node = _check_node(graph, target.node, target.class_type, role, where)
    if target.input not in node["inputs"]:
        raise ConfigurationError(
            f"{where}: {role} names input '{target.input}' of node {target.node} ({target.class_type}), "
            f"which has only {', '.join(sorted(node['inputs'])) or 'no inputs'}"
        )
    if is_link(node["inputs"][target.input]):
        raise ConfigurationError(
            f"{where}: {role} names input '{target.input}' of node {target.node} ({target.class_type}), "
            "which is a link to another node, not a value"
        )


def is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)
