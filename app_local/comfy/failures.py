"""Turn ComfyUI's error bodies and messages into our errors, naming the node, its class and the input.

``HostFailure`` is the one error the host pool retries on another host: the host did not answer,
dropped the connection, or lost the prompt (a restart empties its queue and history). Everything
else (a rejected workflow, an error while executing it) would fail the same way elsewhere.
``PromptUnknown`` is what a host that answers says of a prompt it never had or has forgotten, when
a prompt queued by an earlier run is resumed: it is queued anew.
"""

from __future__ import annotations

from typing import Any

from story2video.errors import BackendError, BackendUnavailable

BACKEND = "comfyui"
_OOM_MARKERS = ("outofmemory", "out of memory")


class HostFailure(BackendUnavailable):
    """The host is unreachable, broke the connection or lost our prompt: try another host."""

    def __init__(self, host: str, reason: str):
        super().__init__(f"ComfyUI at {host}: {reason}", backend=BACKEND)
        self.host = host
        self.reason = reason


class PromptUnknown(BackendError):
    """The host answers but knows nothing of a prompt queued there earlier (a restart, a cleared
    history): the prompt has to be queued anew. The host itself is fine."""

    def __init__(self, host: str, prompt_id: str):
        super().__init__(
            f"ComfyUI at {host} knows no prompt {prompt_id}: neither queued nor in its history (restarted?)", backend=BACKEND
        )
        self.host = host
        self.prompt_id = prompt_id


def rejection_error(host: str, body: Any) -> BackendError:
    """``POST /prompt`` answered 400: the workflow failed validation (usually a model name)."""
    if not isinstance(body, dict):
        return BackendError(f"ComfyUI at {host} rejected the workflow: {str(body)[:500]}", backend=BACKEND)
    error = body["error"] if isinstance(body.get("error"), dict) else {}
    problems = node_error_lines(body.get("node_errors"))
    headline = error.get("message") or "the workflow was rejected"
    details = error.get("details") or ""
    summary = f"{headline} ({details})" if details and not problems else headline
    text = f"ComfyUI at {host} rejected the workflow: {summary}"
    if problems:
        text += ": " + "; ".join(problems)
    return BackendError(text, backend=BACKEND)


def node_error_lines(node_errors: Any) -> list[str]:
    """One line per reported problem: ``node 4 (CheckpointLoaderSimple) input ckpt_name: Value not in list (...)``."""
    if not isinstance(node_errors, dict):
        return []
    lines = []
    for node_id, report in node_errors.items():
        class_type = report.get("class_type", "?") if isinstance(report, dict) else "?"
        errors = report.get("errors", []) if isinstance(report, dict) else []
        for error in errors or [{}]:
            lines.append(_node_error_line(str(node_id), class_type, error))
    return lines


def _node_error_line(node_id: str, class_type: str, error: dict) -> str:
    extra = error["extra_info"] if isinstance(error.get("extra_info"), dict) else {}
    where = f"node {node_id} ({class_type})"
    if extra.get("input_name"):
        where += f" input {extra['input_name']}"
    message = error.get("message") or error.get("type") or "invalid"
    details = error.get("details")
    return f"{where}: {message}" + (f" ({details})" if details else "")


def execution_error(host: str, data: dict) -> BackendError:
    """An ``execution_error`` message (from the websocket or the history's status messages)."""
    node = f"node {data.get('node_id', '?')} ({data.get('node_type', '?')})"
    exception_type = str(data.get("exception_type") or "")
    message = str(data.get("exception_message") or "").strip() or "no message"
    if is_out_of_memory(exception_type, message):
        text = f"ComfyUI at {host} ran out of GPU memory in {node}: {message}"
    else:
        kind = f"{exception_type}: " if exception_type else ""
        text = f"ComfyUI at {host} failed in {node}: {kind}{message}"
    return BackendError(text, backend=BACKEND)


def is_out_of_memory(exception_type: str, message: str) -> bool:
    text = f"{exception_type} {message}".lower().replace(" ", "")
    return any(marker.replace(" ", "") in text for marker in _OOM_MARKERS)


def interrupted_error(host: str, data: dict) -> BackendError:
    node = f" in node {data['node_id']} ({data.get('node_type', '?')})" if data.get("node_id") else ""
    return BackendError(f"ComfyUI at {host} interrupted the prompt{node} (not at our request)", backend=BACKEND)


def history_failure(host: str, entry: dict) -> BackendError:
    """The error a finished-but-failed history entry records in its status messages."""
    status = entry["status"] if isinstance(entry.get("status"), dict) else {}
    for kind, data in reversed(status.get("messages") or []):
        if kind == "execution_error" and isinstance(data, dict):
            return execution_error(host, data)
        if kind == "execution_interrupted" and isinstance(data, dict):
            return interrupted_error(host, data)
    return BackendError(
        f"ComfyUI at {host} finished the prompt with status '{status.get('status_str', '?')}' and no error message",
        backend=BACKEND,
    )
