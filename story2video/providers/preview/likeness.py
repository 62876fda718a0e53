"""The preview drift check: a cheap, deterministic stand-in for an image-embedding likeness.

A picture is reduced to a coarse colour histogram (4 levels per channel, 64 bins) of a small
thumbnail; the likeness of a keyframe to a reference is the cosine of their histograms (0: no colour
in common, 1: the same mix of colours). It knows nothing of faces or clothes: it only makes the
drift check's takes and flags visible without a model.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from PIL import Image

from story2video.providers.base import StageContext
from story2video.turns import turns

THUMBNAIL_SIDE = 48
LEVELS = 4  # per channel


class ColourLikenessScorer:
    backend = "preview"
    model = "colour-histogram-v1"

    async def score(self, picture: Path, references: Sequence[Path], ctx: StageContext) -> float:
        ctx.raise_if_cancelled()
        return await turns.in_thread(ctx, least_alike, picture, references)


def least_alike(picture: Path, references: Sequence[Path]) -> float:
    if not references:
        raise ValueError("a likeness needs at least one reference picture")
    shown = colour_histogram(picture)
    return min(cosine(shown, colour_histogram(reference)) for reference in references)


def colour_histogram(path: Path) -> list[float]:
    with Image.open(path) as image:
        small = image.convert("RGB").resize((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BILINEAR)
    bins = [0.0] * LEVELS**3
    step = 256 // LEVELS
    for red, green, blue in small.getdata():
        bins[(red // step) * LEVELS * LEVELS + (green // step) * LEVELS + blue // step] += 1.0
    return bins


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b)) / norm if norm else 0.0
