"""IP-Adapter: reference pictures that steer an in-process text-to-image pipeline.

The adapter named in the manifest is loaded into the pipeline with diffusers' ``load_ip_adapter``
(local files only), with its CLIP vision encoder. A call with references passes them as
``ip_adapter_image`` at the manifest's scale; a call without any still needs an image for the
adapter's branch, so it gets a blank one at scale 0 (the branch then adds nothing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from PIL import Image

from app_local.inprocess.manifest import ModelSpec

BLANK_SIDE = 224


def attach_ip_adapter(pipe: Any, spec: ModelSpec) -> None:
    adapter = spec.ip_adapter
    if adapter is None:
        return
    if not hasattr(pipe, "load_ip_adapter"):
        from story2video.errors import ConfigurationError

        raise ConfigurationError(f"model '{spec.name}': {spec.pipeline} cannot load an IP-Adapter (manifest field ip_adapter)")
    pipe.load_ip_adapter(
        str(adapter.folder),
        subfolder=adapter.subfolder,
        weight_name=adapter.weight_name,
        image_encoder_folder=adapter.image_encoder_folder,
        local_files_only=True,
    )


def reference_arguments(pipe: Any, spec: ModelSpec, references: Sequence[Path]) -> dict[str, Any]:
    """The call arguments for one picture's references (the pipeline's adapter scale is set to match)."""
    adapter = spec.ip_adapter
    if adapter is None:
        return {}
    pictures = [_rgb(path) for path in references]
    pipe.set_ip_adapter_scale(adapter.scale if pictures else 0.0)
    return {"ip_adapter_image": [pictures or [Image.new("RGB", (BLANK_SIDE, BLANK_SIDE))]]}


def _rgb(path: Path) -> Image.Image:
    with Image.open(path) as picture:
        return picture.convert("RGB")
