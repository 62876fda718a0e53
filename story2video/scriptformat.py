"""How a written episode is laid out: scenes, each opened by a heading line, in Chinese or English.

    【场景1】咖啡馆，清晨            [Scene 1] A café, early morning
    张明推门进来……                   Zhang Ming walks in ...

Script writers (preview or LLM) write this layout, the scene-prompt step reads it back, and a
storyboard made from an episode narrates the scenes' text without their headings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(
    r"^[ \t]*(?:#+[ \t]*)?[【\[(（]?[ \t]*场景[ \t]*(\d+)[ \t]*[】\])）]?[ \t]*[:：.、]?[ \t]*(.*)$"
    r"|^[ \t]*(?:#+[ \t]*)?[\[(]?[ \t]*scene[ \t]+(\d+)[ \t]*[\])]?[ \t]*[:：.]?[ \t]*(.*)$",
    flags=re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class Scene:
    number: int  # as the heading says it
    heading: str  # place and time, the rest of the heading line
    body: str  # what follows the heading, up to the next one


def scene_heading(number: int, place: str, language: str) -> str:
    return f"【场景{number}】{place}" if language == "zh" else f"[Scene {number}] {place}"


def split_scenes(text: str) -> list[Scene]:
    """The scenes of an episode, in order; text before the first heading is not a scene."""
    matches = list(_HEADING.finditer(text))
    scenes = []
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        number = match.group(1) or match.group(3)
        heading = (match.group(2) if match.group(1) else match.group(4)) or ""
        scenes.append(Scene(int(number), heading.strip(), text[match.end() : end].strip()))
    return scenes


def narrated_text(text: str) -> str:
    """The episode as a storyboard narrates it: every scene's text, headings left out."""
    scenes = split_scenes(text)
    if not scenes:
        return text.strip()
    return "\n\n".join(scene.body for scene in scenes if scene.body)
