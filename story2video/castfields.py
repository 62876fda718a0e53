"""A story's cast and a shot's spoken lines, validated the same way wherever they come from (API or an LLM)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

NARRATOR = "narrator"
CHARACTER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

CharacterId = Annotated[str, StringConstraints(pattern=CHARACTER_ID_PATTERN)]
Gender = Literal["female", "male", ""]
AgeGroup = Literal["child", "young", "adult", "old", ""]

# Marks a writer may keep or drop when it cuts a narration into lines: “Hi,” said Tom → [Tom: Hi,] [said Tom]
_IGNORED_BETWEEN_LINES = re.compile(r"[\s\"'“”‘’「」『』]")


class VoiceHints(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    gender: Gender = Field("", description="female | male | '' (unknown)")
    age: AgeGroup = Field("", description="child | young | adult | old | '' (unknown)")
    timbre: str = Field("", max_length=60, description="Free words about the voice: warm, husky, bright, ...")


class CharacterFields(VoiceHints):
    id: CharacterId = Field(description="Stable id within the story, used by shots and lines")
    name: str = Field(min_length=1, max_length=60)
    appearance: str = Field(
        min_length=1, max_length=600, description="Fixed look put verbatim into every picture prompt: age, build, face, hair, clothes"
    )


class LineFields(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    speaker: str = Field(min_length=1, max_length=64, description="A character id of the cast, or 'narrator'")
    text: str = Field(min_length=1, max_length=2000)


def lines_problem(narration: str, lines: list[LineFields], cast_ids: set[str]) -> str | None:
    """What is wrong with a shot's lines, or None: every speaker is known and together they say the narration."""
    for line in lines:
        if line.speaker != NARRATOR and line.speaker not in cast_ids:
            return f"line speaker '{line.speaker}' is neither 'narrator' nor a character id of the cast"
    if lines and _spoken(" ".join(line.text for line in lines)) != _spoken(narration):
        return "the lines together do not say exactly the shot's narration"
    return None


def characters_problem(characters: list[str], cast_ids: set[str]) -> str | None:
    unknown = [character for character in characters if character not in cast_ids]
    if unknown:
        return f"characters {unknown} are not in the cast"
    if len(set(characters)) != len(characters):
        return "a character is named twice in one shot"
    return None


def _spoken(text: str) -> str:
    return _IGNORED_BETWEEN_LINES.sub("", text)
