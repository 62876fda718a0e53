"""A script from an idea by rules, no model: the cast asked for (or a few invented), an outline that
follows a classic arc over the episodes, and each episode written scene by scene with dialogue.

Everything is chosen by a random generator seeded from the request's seed, so the same request
writes the same script. The text is handed out in small pieces, as a model streams it, at
SCRIPT_PREVIEW_DELAY_S between pieces, and a cancel stops it between two pieces.
"""

from __future__ import annotations

import asyncio
import json
import random
import re

from story2video.providers.base import (
    BackendStatus,
    CharacterDraft,
    EpisodePlan,
    ScenePromptRequest,
    ScriptRequest,
    StageContext,
    TextOut,
)
from story2video.providers.preview.cast import character_draft
from story2video.scriptformat import scene_heading, split_scenes

_NAMES = {
    "zh": [("林夏", "female"), ("陈默", "male"), ("苏晴", "female"), ("周远", "male"), ("许安", "female"), ("顾川", "male")],
    "en": [("Mia Carter", "female"), ("Leo Grant", "male"), ("Nora Hale", "female"), ("Sam Reed", "male"), ("Ivy Lane", "female")],
}
# Beats of the arc, spread over the episodes: (Chinese title, English title, what happens)
_BEATS = [
    ("意外的开端", "An Unexpected Start", {"zh": "{a}的平静生活被打破：{premise}。{b}第一次出现，两人针锋相对。",
                                          "en": "{a}'s quiet life is upended: {premise}. {b} appears for the first time and they clash."}),
    ("暗流涌动", "Undercurrents", {"zh": "{a}发现事情并不简单，{b}似乎隐瞒了什么，一个小小的线索让局面复杂起来。",
                                  "en": "{a} learns it is not that simple; {b} seems to hide something, and a small clue complicates everything."}),
    ("联手", "Joining Forces", {"zh": "为了共同的目标，{a}和{b}不得不联手，却在合作中看到了彼此的另一面。",
                               "en": "For a shared goal {a} and {b} must work together, and each sees another side of the other."}),
    ("转折", "The Turn", {"zh": "一个意外让{a}的计划全盘落空，{b}的选择将决定一切。",
                          "en": "A surprise wrecks {a}'s plan, and {b}'s choice will decide everything."}),
    ("最后的较量", "The Showdown", {"zh": "真相浮出水面，{a}必须正面迎战，所有的矛盾在这一刻爆发。",
                                   "en": "The truth comes out; {a} must face it head-on as every conflict breaks loose."}),
    ("新的开始", "A New Beginning", {"zh": "风波过后，{a}和{b}重新审视自己的选择，故事迎来温暖的结局。",
                                    "en": "After the storm {a} and {b} look again at their choices, and the story finds a warm ending."}),
]
_PLACES = {
    "zh": ["写字楼会议室，上午", "街角咖啡馆，清晨", "公司走廊，午后", "天台，黄昏", "老旧小区楼下，夜晚", "医院走廊，深夜", "地铁站台，傍晚"],
    "en": ["An office meeting room, morning", "A corner café, early morning", "A company corridor, afternoon",
           "A rooftop, dusk", "Outside an old apartment block, night", "A hospital corridor, late night", "A subway platform, evening"],
}
_ACTIONS = {
    "zh": ["{a}推门而入，目光扫过四周。", "{a}攥紧手里的文件，深吸了一口气。", "{b}靠在窗边，若有所思地看着{a}。",
           "雨点敲打着玻璃，{a}放慢了脚步。", "{a}和{b}隔着桌子对视，谁也没有先开口。"],
    "en": ["{a} pushes the door open and looks around.", "{a} grips the folder and takes a deep breath.",
           "{b} leans by the window, watching {a} closely.", "Rain taps on the glass; {a} slows down.",
           "{a} and {b} face each other across the table; neither speaks first."],
}
_LINES = {
    "zh": [("{a}低声说：“{hook}，这件事没有那么简单。”", "{b}说：“你要是想知道真相，就别再回头。”"),
           ("{a}问道：“你早就知道了，对吗？”", "{b}叹了口气说：“我只是不想让你受伤。”"),
           ("{a}说：“这一次，我们一起面对。”", "{b}笑着说：“好，我陪你走到最后。”")],
    "en": [("{a} said quietly, \"{hook}, and it is not that simple.\"", "{b} said, \"If you want the truth, don't look back.\""),
           ("{a} asked, \"You knew all along, didn't you?\"", "{b} sighed and said, \"I only wanted to keep you safe.\""),
           ("{a} said, \"This time we face it together.\"", "{b} smiled and said, \"All right. I'm with you to the end.\"")],
}
_CLOSINGS = {
    "zh": ["{a}转身离开，心里已经有了决定。", "窗外的灯一盏盏亮起，新的问题摆在了眼前。", "{b}望着{a}的背影，久久没有说话。"],
    "en": ["{a} turns away, mind made up.", "Outside, the lights come on one by one, and a new question waits.",
           "{b} watches {a} walk away and says nothing for a long time."],
}
_PIECE_CHARS = {"zh": 8, "en": 24}


class PreviewScriptWriter:
    backend = "preview"
    model = "rule-based-script-v1"

    def __init__(self, delay_s: float = 0.0):
        self.delay_s = delay_s

    async def write_cast(self, request: ScriptRequest, out: TextOut, ctx: StageContext) -> list[CharacterDraft]:
        cast = preview_cast(request)
        await self._stream(json.dumps({"cast": [character.__dict__ for character in cast]}, ensure_ascii=False), out, ctx)
        return cast

    async def write_outline(self, request: ScriptRequest, cast: list[CharacterDraft], out: TextOut, ctx: StageContext) -> list[EpisodePlan]:
        outline = preview_outline(request, cast)
        text = json.dumps({"episodes": [{"episode": p.number, "title": p.title, "summary": p.summary} for p in outline]}, ensure_ascii=False)
        await self._stream(text, out, ctx)
        return outline

    async def write_episode(
        self, request: ScriptRequest, cast: list[CharacterDraft], outline: list[EpisodePlan], number: int, out: TextOut, ctx: StageContext
    ) -> str:
        text = preview_episode(request, cast, outline, number)
        await self._stream(text, out, ctx)
        return text

    async def write_scene_prompts(self, request: ScenePromptRequest, out: TextOut, ctx: StageContext) -> list[str]:
        prompts = preview_scene_prompts(request)
        await self._stream(json.dumps({"prompts": [{"scene": i, "prompt": p} for i, p in enumerate(prompts, 1)]}, ensure_ascii=False), out, ctx)
        return prompts

    async def _stream(self, text: str, out: TextOut, ctx: StageContext) -> None:
        size = _PIECE_CHARS["zh" if re.search(r"[\u4e00-\u9fff]", text) else "en"]
        for start in range(0, len(text), size):
            ctx.raise_if_cancelled()
            out.write(text[start : start + size])
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        ctx.raise_if_cancelled()

    async def status(self) -> BackendStatus:
        return BackendStatus("script", self.backend, self.model, True, "rule-based: cast, arc outline and scenes from the inputs; no model needed")


def _rng(request: ScriptRequest, part: str) -> random.Random:
    return random.Random(f"{request.seed}:{part}")  # a str seed is hashed with SHA-512: the same in every process


def preview_cast(request: ScriptRequest) -> list[CharacterDraft]:
    language = request.language
    context = f"{request.premise} {request.genre}"
    cast = [
        character_draft(hint.name, index, language, gender=hint.gender, age=hint.age, context=context)
        for index, hint in enumerate(request.characters)
    ]
    if len(cast) < 2:
        taken = {character.name for character in cast}
        pool = [entry for entry in _NAMES[language] if entry[0] not in taken]
        _rng(request, "cast").shuffle(pool)
        for name, gender in pool[: 2 - len(cast)]:
            cast.append(character_draft(name, len(cast), language, gender=gender, context=context))
    ids: set[str] = set()
    unique = []
    for index, character in enumerate(cast):  # two names that spell the same id keep them apart
        if character.id in ids:
            character = CharacterDraft(**{**character.__dict__, "id": f"{character.id}_{index + 1}"})
        ids.add(character.id)
        unique.append(character)
    return unique


def _beats(count: int) -> list[int]:
    """Which beat each episode plays: the first opens, the last resolves, the middle ones spread between."""
    last = len(_BEATS) - 1
    if count == 1:
        return [0]
    return [round(index * last / (count - 1)) for index in range(count)]


def preview_outline(request: ScriptRequest, cast: list[CharacterDraft]) -> list[EpisodePlan]:
    a, b = cast[0].name, cast[1].name if len(cast) > 1 else cast[0].name
    premise = request.premise.strip().rstrip("。.！!？?")
    plans = []
    for number, beat in enumerate(_beats(request.episodes), start=1):
        zh_title, en_title, summaries = _BEATS[beat]
        title = zh_title if request.language == "zh" else en_title
        if request.episodes > len(_BEATS) and _beats(request.episodes).count(beat) > 1:
            title += f"（{number}）" if request.language == "zh" else f" ({number})"
        plans.append(EpisodePlan(number, title, summaries[request.language].format(a=a, b=b, premise=premise)))
    return plans


def _minutes(duration: str) -> float:
    match = re.search(r"(\d+(?:\.\d+)?)\s*(分钟|分|min|minute|m\b|秒|s\b|sec|second)?", duration, flags=re.IGNORECASE)
    if not match:
        return 3.0
    value, unit = float(match.group(1)), (match.group(2) or "min").lower()
    return value / 60 if unit in ("秒", "s", "sec", "second") else value


def preview_episode(request: ScriptRequest, cast: list[CharacterDraft], outline: list[EpisodePlan], number: int) -> str:
    language = request.language
    rng = _rng(request, f"episode-{number}")
    scenes = min(max(round(_minutes(request.duration)), 2), 4)
    plan = outline[number - 1]
    places = rng.sample(_PLACES[language], scenes)
    blocks = []
    for scene in range(1, scenes + 1):
        a, b = rng.sample(cast, 2) if len(cast) > 1 else (cast[0], cast[0])
        names = {"a": a.name, "b": b.name}
        first, second = _LINES[language][rng.randrange(len(_LINES[language]))]
        hook = plan.title
        body = [
            rng.choice(_ACTIONS[language]).format(**names),
            first.format(hook=hook, **names),
            second.format(**names),
        ]
        if scene == scenes:
            body.append(rng.choice(_CLOSINGS[language]).format(**names))
        separator = "" if language == "zh" else " "
        blocks.append(f"{scene_heading(scene, places[scene - 1], language)}\n{separator.join(body)}")
    return "\n\n".join(blocks)


def preview_scene_prompts(request: ScenePromptRequest) -> list[str]:
    prompts = []
    for scene in split_scenes(request.text):
        present = [character for character in request.cast if character.name in scene.body]
        sentence = re.split(r"(?<=[。！？.!?])\s*", scene.body, maxsplit=1)[0]
        if request.language == "zh":
            people = "；".join(f"{c.name}：{c.appearance}" for c in present)
            parts = [request.style, scene.heading, people, sentence]
            prompts.append("，".join(part for part in parts if part))
        else:
            people = "; ".join(f"{c.name}, {c.appearance}" for c in present)
            parts = [request.style, scene.heading, people, sentence]
            prompts.append(". ".join(part.rstrip(".") for part in parts if part) + ".")
    return prompts
