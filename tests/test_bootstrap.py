"""scripts/bootstrap.sh: says what it installs on a new venv or changed requirements, silent otherwise.

Runs a copy of the script in a temp folder with requirements that need no network (pip itself,
which a fresh venv already has)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serverproc import ROOT

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _bootstrap(project: Path, requirements: str) -> str:
    result = subprocess.run(
        ["bash", "scripts/bootstrap.sh", requirements],
        cwd=project,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "PIP_NO_INDEX": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_installs_loudly_once_then_again_only_when_the_requirements_change(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "bootstrap.sh", tmp_path / "scripts" / "bootstrap.sh")
    (tmp_path / "requirements-base.txt").write_text("pip\n")
    (tmp_path / "requirements-top.txt").write_text("-r requirements-base.txt\n")

    first = _bootstrap(tmp_path, "requirements-top.txt")
    assert "creating .venv" in first
    assert "installing requirements-top.txt into .venv (a first install downloads every package" in first
    assert "Requirement already satisfied: pip" in first  # pip's own output is shown, not --quiet

    assert _bootstrap(tmp_path, "requirements-top.txt") == ""  # nothing changed: not a word

    (tmp_path / "requirements-base.txt").write_text("pip\n# a change in an included file counts\n")
    assert "installing requirements-top.txt" in _bootstrap(tmp_path, "requirements-top.txt")
    assert _bootstrap(tmp_path, "requirements-top.txt") == ""
