"""The GPU packages, imported only when an in-process backend is built (never at app_local import)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from story2video.errors import ConfigurationError

REQUIRED = ("torch", "diffusers", "transformers", "accelerate", "safetensors")
INSTALL_HINT = "install them with `pip install -r requirements-gpu.txt`"


@dataclass(frozen=True)
class GpuLibraries:
    torch: ModuleType
    diffusers: ModuleType


def gpu_libraries() -> GpuLibraries:
    """torch and diffusers (and what they load models with); ConfigurationError when one is missing."""
    modules: dict[str, ModuleType] = {}
    for name in REQUIRED:
        try:
            modules[name] = importlib.import_module(name)
        except ImportError as exc:
            raise ConfigurationError(
                f"the diffusers backend needs the Python package '{name}', which cannot be imported ({exc}); {INSTALL_HINT}"
            ) from exc
    return GpuLibraries(torch=modules["torch"], diffusers=modules["diffusers"])
