"""A fusion (reference-to-video) request from a clip request: who is in it, by what name, and the words.

PixVerse takes one to three reference pictures, each ``{"type": "subject" | "background", "img_id",
"ref_name"}``, and a prompt that names each as ``@ref_name`` followed by a space. The keyframe goes as
the background (it is the drawn scene); the shot's first two characters go as subjects. A character
beyond them stays in the prompt's words only.
"""

from __future__ import annotations

import re

from app_api.dashscope.video import clip_prompt
from story2video.providers.base import ClipReference, ClipRequest

MAX_REFERENCES = 3
SCENE = "scene"  # the keyframe's ref_name
MAX_SUBJECTS = MAX_REFERENCES - 1
ASPECT_RATIOS = {"16:9": 16 / 9, "4:3": 4 / 3, "1:1": 1.0, "3:4": 3 / 4, "9:16": 9 / 16}


def subjects(request: ClipRequest) -> tuple[ClipReference, ...]:
    return request.references[:MAX_SUBJECTS]


def ref_names(references: tuple[ClipReference, ...]) -> list[str]:
    """A plain, distinct ``ref_name`` per character: its name in lower-case letters and digits when it
    has them (``Tom`` -> ``tom``), else ``person1``, ``person2``…"""
    names: list[str] = []
    for index, reference in enumerate(references, start=1):
        name = re.sub(r"[^a-z0-9]", "", reference.name.lower())
        if not name or not name[0].isalpha() or name in names or name == SCENE:
            name = f"person{index}"
        names.append(name)
    return names


def fusion_prompt(request: ClipRequest, names: list[str]) -> str:
    """Who each ``@ref_name`` is, where they are, then the shot's own words and camera direction."""
    who = "; ".join(f"@{name} is {reference.name}" for name, reference in zip(names, subjects(request)))
    return f"{who}; the scene is @{SCENE} . {clip_prompt(request)}"


def aspect_ratio(width: int, height: int) -> str:
    """PixVerse's aspect ratio nearest the frame's."""
    return min(ASPECT_RATIOS, key=lambda name: abs(ASPECT_RATIOS[name] - width / height))
