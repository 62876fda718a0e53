"""The editable fields of a shot, validated the same way wherever they come from (API or an LLM)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ShotFields(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    subject: str = Field(min_length=1, max_length=200, description="What the shot is about, a short title")
    detail: str = Field(min_length=1, max_length=2000, description="What the picture shows: the image prompt")
    camera: str = Field(min_length=1, max_length=200, description="Shot size and camera movement")
    narration: str = Field(min_length=1, max_length=2000, description="The words spoken over the shot")
    tone: str = Field(min_length=1, max_length=100, description="The mood, one word or a short phrase")
