"""Example requests for the OpenAPI document: what `/docs` fills in for "Try it out" and `/redoc` shows.

The values are the README walkthrough's (a short Chinese script, `story-001` of user `u-001`), so
trying the three seed endpoints in order makes a real storyboard, a new take of a shot and a video.
They are OpenAPI named examples on the request body or parameter, not JSON Schema `examples` on the
models: Pydantic sorts the keys of the latter (`display_name` would come first); named examples
keep their order, carry a summary, appear as a menu in both UIs, and are what Swagger UI puts in a
parameter's field. A parameter whose example must not be pre-filled uses JSON Schema `examples`.
"""

from __future__ import annotations

from typing import Any

from fastapi.openapi.models import Example

USER_ID = "u-001"
STORY_ID = "story-001"
SHOT_ID = "shot_01"
CHARACTER_ID = "character_1"
SCRIPT = "清晨，少女推开木窗，望见远山的薄雾。她背起画板走向河边。河面上漂着一只纸船。夜里，她终于听见了海浪的声音。"


def _named(**examples: tuple[str, dict[str, Any]]) -> dict[str, Example]:
    return {name: Example(summary=summary, value=value) for name, (summary, value) in examples.items()}


def parameter(value: str | int, summary: str | None = None) -> dict[str, Example]:
    """One example for a path, query or header parameter (Swagger UI puts it in the field)."""
    example = Example(value=value)
    if summary:
        example["summary"] = summary
    return {str(value): example}


CREATE_STORYBOARD = _named(
    walkthrough=(
        "The README walkthrough: a short Chinese script",
        {"operation_id": "op-001", "story_id": STORY_ID, "user_id": USER_ID, "display_name": "我的故事", "script_content": SCRIPT, "style": "写实"},
    ),
    options=(
        "Exactly 4 portrait shots, reproducible with a seed",
        {
            "operation_id": "op-101",
            "story_id": "story-101",
            "user_id": USER_ID,
            "display_name": "纸船",
            "script_content": SCRIPT,
            "style": "水彩",
            "shot_count": 4,
            "aspect_ratio": "9:16",
            "seed": 42,
        },
    ),
)

REGENERATE_SHOT = _named(
    walkthrough=(
        "New detail for the first shot (a new keyframe)",
        {"operation_id": "op-002", "story_id": STORY_ID, "shot_id": SHOT_ID, "user_id": USER_ID, "detail": "新的细节描述：晨雾中的木窗"},
    ),
    every_field=(
        "Rewrite a shot's subject, camera, narration, tone and style",
        {
            "operation_id": "op-102",
            "story_id": STORY_ID,
            "shot_id": "shot_02",
            "user_id": USER_ID,
            "subject": "少女背着画板",
            "camera": "中景，镜头跟随",
            "narration": "她背起画板，沿着青石小路走向河边。",
            "tone": "轻快",
            "style": "水彩",
        },
    ),
)

RENDER_VIDEO = _named(
    walkthrough=("The README walkthrough: default render options", {"operation_id": "op-003", "story_id": STORY_ID, "user_id": USER_ID}),
    options=(
        "Portrait 720p at 24 fps, crossfades, music, slightly faster speech",
        {
            "operation_id": "op-103",
            "story_id": STORY_ID,
            "user_id": USER_ID,
            "aspect_ratio": "9:16",
            "resolution": 720,
            "fps": 24,
            "subtitles": True,
            "crossfade": 0.5,
            "music": True,
            "speed": 1.1,
        },
    ),
)

IMPORT_UPLOAD = _named(
    picture=("A picture on a host listed in UPLOAD_URL_HOSTS", {"user_id": USER_ID, "url": "https://media.example.com/window.jpg"}),
)

# Path and query parameters beyond the walkthrough's ids.
OPERATION_ID = "op-003"
UPLOAD_ID = "up_5f0c2a9e81d34b7a6c1e0f92"
ARTIFACT_NAME = "9b3e0f6c2d1a4e8b7c5f3a2d1e0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c.mp4"

UPDATE_CHARACTER = _named(
    look=(
        "A new look: the character's shots are drawn again at the next render",
        {"user_id": USER_ID, "appearance": "十六岁的少女，齐肩黑发，白色连衣裙，背着木画板"},
    ),
    voice=("A voice of the speech backend for this character", {"user_id": USER_ID, "voice": "longxiaochun"}),
    new_portrait=("Draw the character's portrait again", {"user_id": USER_ID, "redraw_reference": True}),
)
SCRIPT_ID = "script-001"
WRITE_SCRIPT = _named(
    seed_000=(
        "Seed 000's example, with an idea: three episodes of an office drama",
        {
            "operation_id": "op-script-001",
            "user_id": USER_ID,
            "script_id": SCRIPT_ID,
            "premise": "实习生张明在一次失误后被迫与上司李婷合作，揭开了公司里的秘密",
            "genre": "都市职场",
            "duration": "3分钟",
            "episodes": 3,
            "characters": ["张明,男,28", "李婷,女,25", "王总,男,45"],
            "style": "写实",
        },
    ),
    english=(
        "An English mystery, characters invented",
        {"operation_id": "op-script-002", "user_id": USER_ID, "script_id": "script-002", "premise": "A lighthouse keeper finds a letter from the future", "genre": "mystery", "episodes": 2},
    ),
)
SCENE_PROMPTS = _named(
    episode=("The scene prompts of episode 1", {"operation_id": "op-prompts-001", "user_id": USER_ID, "episode": 1}),
)
UPDATE_EPISODE = _named(
    edit=("A person's edit of episode 1", {"user_id": USER_ID, "text": "【场景1】写字楼大堂，清晨\n张明说：“今天我一定不会再迟到。”", "title": "新的开始"}),
)
SEED_GENERATE_SCRIPT = _named(
    seed_000=(
        "Seed 000's request example, unchanged",
        {"genre": "都市职场", "duration": "3分钟", "episodes": 8, "characters": ["张明,男,28", "李婷,女,25", "王总,男,45"]},
    ),
)
