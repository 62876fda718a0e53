"""The local drift check: how alike a keyframe and its characters' references are, as the cosine of
their image embeddings from a CLIP-type model folder named in the model manifest
(``"consistency": {"path": ...}``): a ``CLIPModel`` or a ``CLIPVisionModelWithProjection`` saved with
``save_pretrained``. torch and transformers are imported when the first score is asked for.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any, Sequence

from story2video.errors import ConfigurationError
from story2video.providers.base import StageContext

BACKEND = "clip"


class ClipLikenessScorer:
    backend = BACKEND

    def __init__(self, folder: Path):
        self.folder = folder
        self.model = folder.name
        self._loaded: tuple[Any, Any, Any] | None = None  # (torch, model, processor)
        self._lock = threading.Lock()

    async def score(self, picture: Path, references: Sequence[Path], ctx: StageContext) -> float:
        ctx.raise_if_cancelled()
        return await asyncio.to_thread(self.least_alike, picture, references)

    def least_alike(self, picture: Path, references: Sequence[Path]) -> float:
        """The lowest cosine (clamped to 0..1) between ``picture`` and each reference."""
        if not references:
            raise ValueError("a likeness needs at least one reference picture")
        torch, _, _ = self._load()
        embeddings = self._embed([picture, *references])
        cosines = torch.nn.functional.cosine_similarity(embeddings[:1], embeddings[1:], dim=-1)
        return float(cosines.min().clamp(0.0, 1.0))

    def _embed(self, paths: Sequence[Path]):
        from PIL import Image

        torch, model, processor = self._load()
        pictures = []
        for path in paths:
            with Image.open(path) as image:
                pictures.append(image.convert("RGB"))
        inputs = processor(images=pictures, return_tensors="pt")
        pixels = inputs["pixel_values"].to(device=model.device, dtype=model.dtype)
        with torch.inference_mode():
            if hasattr(model, "get_image_features"):
                features = model.get_image_features(pixel_values=pixels)
                features = getattr(features, "pooler_output", features)  # newer transformers return an output object
            else:
                features = model(pixel_values=pixels).image_embeds
        return features.float()

    def _load(self) -> tuple[Any, Any, Any]:
        with self._lock:
            if self._loaded is None:
                self._loaded = _load_clip(self.folder)
            return self._loaded


def _load_clip(folder: Path) -> tuple[Any, Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise ConfigurationError(
            f"the drift check's CLIP model needs torch and transformers ({exc}); install them with `pip install -r requirements-gpu.txt`"
        ) from exc
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    kinds = {"clip": transformers.CLIPModel, "clip_vision_model": transformers.CLIPVisionModelWithProjection}
    model_class = kinds.get(config.get("model_type"))
    if model_class is None:
        raise ConfigurationError(
            f"the consistency model {folder} is a {config.get('model_type')!r}; a CLIPModel or CLIPVisionModelWithProjection is needed"
        )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = model_class.from_pretrained(folder, local_files_only=True).to(device).eval()
    if (folder / "preprocessor_config.json").is_file():
        processor = transformers.CLIPImageProcessor.from_pretrained(folder, local_files_only=True)
    else:
        side = (config.get("vision_config") or config).get("image_size", 224)
        processor = transformers.CLIPImageProcessor(size={"shortest_edge": side}, crop_size={"height": side, "width": side})
    return torch, model, processor
