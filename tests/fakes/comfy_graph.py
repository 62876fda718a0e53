"""Prompt validation and execution order for the fake ComfyUI, following ComfyUI's ``execution.py``:
only nodes an output node depends on are validated and run, errors are reported per node as
``node_errors`` with the outputs they take down, and a prompt is refused when no output survives."""

from __future__ import annotations

from typing import Any

from tests.fakes.comfy_nodes import Folders, Input, NodeClass, check_value, coerce

PromptError = dict[str, Any]


def _error(kind: str, message: str, details: str = "") -> PromptError:
    return {"type": kind, "message": message, "details": details, "extra_info": {}}


def is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


def validate_prompt(
    graph: Any, classes: dict[str, NodeClass], folders: Folders
) -> tuple[PromptError | None, list[str], dict[str, Any]]:
    """(error or None, the output node ids that passed, node_errors)."""
    if not isinstance(graph, dict):
        return _error("invalid_prompt", "Cannot execute because the prompt is not an object."), [], {}
    for node_id, node in graph.items():
        if not isinstance(node, dict) or "class_type" not in node:
            message = "Cannot execute because a node is missing the class_type property."
            return _error("invalid_prompt", message, f"Node ID '#{node_id}'"), [], {}
        if node["class_type"] not in classes:
            message = f"Cannot execute because node {node['class_type']} does not exist."
            return _error("invalid_prompt", message, f"Node ID '#{node_id}'"), [], {}
    outputs = [node_id for node_id, node in graph.items() if classes[node["class_type"]].output_node]
    if not outputs:
        return _error("prompt_no_outputs", "Prompt has no outputs"), [], {}
    good: list[str] = []
    node_errors: dict[str, dict[str, Any]] = {}
    for output in outputs:
        failures: dict[str, list[dict]] = {}
        _validate_node(graph, output, classes, folders, failures, set())
        if not failures:
            good.append(output)
        for node_id, reasons in failures.items():
            report = node_errors.setdefault(
                node_id, {"errors": reasons, "dependent_outputs": [], "class_type": graph[node_id]["class_type"]}
            )
            report["dependent_outputs"].append(output)
    if not good:
        return _error("prompt_outputs_failed_validation", "Prompt outputs failed validation"), [], node_errors
    return None, good, node_errors


def _validate_node(
    graph: dict, node_id: str, classes: dict[str, NodeClass], folders: Folders, failures: dict, seen: set[str]
) -> None:
    if node_id in seen:
        return
    seen.add(node_id)
    node = graph[node_id]
    spec = classes[node["class_type"]]
    inputs = node.get("inputs") or {}
    reasons = []
    for name, input_spec in {**spec.required, **spec.optional}.items():
        if name not in inputs:
            if name in spec.required:
                reasons.append({"type": "required_input_missing", "message": "Required input is missing",
                                "details": name, "extra_info": {"input_name": name}})
            continue
        reason = _check_input(graph, name, input_spec, inputs[name], classes, folders, failures, seen)
        if reason is not None:
            reasons.append(reason)
    if not reasons and spec.custom_check is not None:
        reasons.extend(spec.custom_check(folders, _plain_values(spec, inputs)))
    if reasons:
        failures[node_id] = reasons


def _check_input(
    graph: dict, name: str, spec: Input, value: Any, classes: dict[str, NodeClass], folders: Folders,
    failures: dict, seen: set[str],
) -> dict | None:
    if not is_link(value):
        return check_value(name, spec, value)
    source_id, index = value
    source = graph.get(source_id)
    if source is None:
        return {"type": "bad_linked_input", "message": "Bad linked input, the linked node does not exist",
                "details": f"{name}: node {source_id}", "extra_info": {"input_name": name}}
    returned = classes[source["class_type"]].outputs
    if index >= len(returned) or returned[index] != spec.type:
        received = returned[index] if index < len(returned) else "nothing"
        return {"type": "return_type_mismatch", "message": "Return type mismatch between linked nodes",
                "details": f"{name}, received_type({received}) mismatch input_type({spec.type})",
                "extra_info": {"input_name": name}}
    _validate_node(graph, source_id, classes, folders, failures, seen)
    return None


def _plain_values(spec: NodeClass, inputs: dict) -> dict:
    specs = {**spec.required, **spec.optional}
    return {name: coerce(specs[name], value) for name, value in inputs.items() if name in specs and not is_link(value)}


def execution_order(graph: dict, outputs: list[str]) -> list[str]:
    """The nodes the outputs depend on, each after its inputs."""
    order: list[str] = []

    def visit(node_id: str) -> None:
        if node_id in order:
            return
        for value in (graph[node_id].get("inputs") or {}).values():
            if is_link(value):
                visit(value[0])
        order.append(node_id)

    for output in outputs:
        visit(output)
    return order


def resolve_inputs(node: dict, spec: NodeClass, results: dict[str, tuple]) -> dict[str, Any]:
    """The node's input values: linked outputs looked up, plain values converted to their type."""
    specs = {**spec.required, **spec.optional}
    values = {}
    for name, value in (node.get("inputs") or {}).items():
        if name not in specs:
            continue
        values[name] = results[value[0]][value[1]] if is_link(value) else coerce(specs[name], value)
    return values
