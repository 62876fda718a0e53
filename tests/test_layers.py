"""The core's packages import downwards only: api → engine → protocol (wire schemas) → jobs/uploads →
pipeline → providers → media/storage → the bottom modules. No package imports one above it, so there are no loops."""

from __future__ import annotations

import ast
from pathlib import Path

import story2video

CORE = Path(story2video.__file__).parent
# Higher number = higher layer. A module may import its own layer's package or lower ones only.
LAYERS = {
    "app": 9, "startup": 9, "worker": 10,
    "api": 8,
    "engine": 7,
    "scripting": 6.5,
    "protocol": 6, "stages": 6, "webhooks": 5.5, "presenters": 5,
    "jobs": 4, "uploads": 4, "accounts": 4,
    "pipeline": 3,
    "providers": 2,
    "media": 1, "storage": 1,
    "config": 0, "stagecontext": 0, "turns": 0.5, "shotfields": 0, "castfields": 0, "scriptformat": 0, "logs": 0, "web": 0, "__init__": 0,
    "util": -1,
    "errors": -2,
}


def _imports(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "story2video" else [f"story2video.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found += [(name.split(".")[1], node.lineno) for name in names if name.startswith("story2video.")]
    return found


def test_every_core_package_has_a_layer():
    packages = {path.relative_to(CORE).parts[0].removesuffix(".py") for path in CORE.rglob("*.py")}
    assert packages <= set(LAYERS), f"give these a layer: {sorted(packages - set(LAYERS))}"


def test_no_package_imports_one_above_it():
    upward = []
    for path in sorted(CORE.rglob("*.py")):
        package = path.relative_to(CORE).parts[0].removesuffix(".py")
        for target, line in _imports(path):
            if target != package and LAYERS.get(target, 0) >= LAYERS[package] and target != "__version__":
                upward.append(f"{path.relative_to(CORE.parent)}:{line} ({package}) imports {target}")
    assert not upward, "\n".join(upward)
