"""Wording of the preview storyboard's shot fields: subject, detail, camera and tone, from the narration."""

from __future__ import annotations

import itertools
import re

from story2video.providers.base import ShotDraft
from story2video.providers.preview.text import WORD_WEIGHT, Break, Tokens, is_cjk, tokenize
from story2video.providers.preview.tone import guess_tone

Span = tuple[int, int]

_TONE_WORDS = {
    "zh": {
        "tense": "紧张",
        "joyful": "欢快",
        "sad": "悲伤",
        "mysterious": "神秘",
        "warm": "温暖",
        "calm": "平静",
        "neutral": "平静",
    },
    "en": {
        "tense": "tense",
        "joyful": "joyful",
        "sad": "sad",
        "mysterious": "mysterious",
        "warm": "warm",
        "calm": "calm",
        "neutral": "calm",
    },
}
_LIGHTING = {
    "zh": {
        "tense": "强烈明暗对比的硬光",
        "joyful": "明亮的暖阳",
        "sad": "阴沉的冷色调光线",
        "mysterious": "幽暗的薄雾与微光",
        "warm": "温暖的金色光线",
        "calm": "柔和的自然光",
        "neutral": "柔和的自然光",
    },
    "en": {
        "tense": "harsh high-contrast light",
        "joyful": "bright cheerful sunlight",
        "sad": "muted cold light",
        "mysterious": "dim misty glow",
        "warm": "warm golden light",
        "calm": "soft natural light",
        "neutral": "soft natural light",
    },
}
_CAMERA_TEXT = {
    "zh": {
        "pull_out": "镜头缓缓拉远，展现全景",
        "push_in": "镜头缓慢推近，聚焦人物",
        "static": "固定镜头，画面保持静止",
        "pan_left": "镜头平稳左移",
        "pan_right": "镜头平稳右移",
        "tilt_up": "镜头缓缓上摇",
        "tilt_down": "镜头缓缓下摇",
    },
    "en": {
        "pull_out": "Slow pull out to reveal the whole scene",
        "push_in": "Slow push in toward the subject",
        "static": "Static shot, the frame holds still",
        "pan_left": "Smooth pan left across the scene",
        "pan_right": "Smooth pan right across the scene",
        "tilt_up": "Slow tilt up",
        "tilt_down": "Slow tilt down",
    },
}
_SHOT_SIZE = {
    "zh": {
        "pull_out": "远景",
        "push_in": "近景特写",
        "static": "中景",
        "pan_left": "全景",
        "pan_right": "全景",
        "tilt_up": "低角度全景",
        "tilt_down": "高角度全景",
    },
    "en": {
        "pull_out": "wide establishing shot",
        "push_in": "close-up",
        "static": "medium shot",
        "pan_left": "full shot",
        "pan_right": "full shot",
        "tilt_up": "low-angle wide shot",
        "tilt_down": "high-angle wide shot",
    },
}
_MOVE_FALLBACKS = ("pan_right", "pan_left", "push_in", "static", "tilt_down")
_DIALOGUE_MARKS = set('“”「」『』"')

_ZH_CONNECTIVES = "就在这时 这时候 这时 然后 但是 可是 于是 所以 而且 不过 接着 后来 突然 忽然 终于".split()
_EN_CONNECTIVES = frozenset("and but then so suddenly meanwhile however finally yet".split())
_EN_TRAILING_STOPWORDS = frozenset(
    "a an the of to and or but in on at with for from by as "
    "his her their its my your our that which who is was were".split()
)
_ZH_BREAK_AFTER = set("了着过")
_ZH_BREAK_BEFORE = set("的地在和与把被")
_SUBJECT_LIMIT = {"zh": 16.0, "en": 8 * WORD_WEIGHT}
TITLE_CUT_MARK = "…"  # a title cut inside its clause says so
_SCENE_LIMIT = 100.0
_STYLE_WORDING = {"zh": ("风格", ("风格", "风"), "，"), "en": (" style", ("style",), ", ")}
_LEAD_IN_RATIO = 1.5
_EDGE_PUNCTUATION = re.compile(r"^[\W_]+|[\W_]+$")


def describe_shots(narrations: list[str], language: str, style: str) -> list[ShotDraft]:
    drafts: list[ShotDraft] = []
    previous_move = ""
    for index, narration in enumerate(narrations):
        tone = guess_tone(narration)
        move = _camera_move(index, len(narrations), tone, narration, previous_move)
        drafts.append(
            ShotDraft(
                subject=_subject(narration, language),
                detail=_detail(narration, language, style.strip(), tone, move),
                camera=_CAMERA_TEXT[language][move],
                narration=narration,
                tone=_TONE_WORDS[language][tone],
            )
        )
        previous_move = move
    return drafts


def _camera_move(index: int, count: int, tone: str, narration: str, previous: str) -> str:
    if index == 0:
        move = "pull_out"  # establish the place first
    elif count > 2 and index == count - 1:
        move = "tilt_up"  # lift away to close the story
    elif tone == "tense" or set(narration) & _DIALOGUE_MARKS:
        move = "push_in"
    elif tone in ("calm", "warm"):
        move = "static"
    elif tone == "sad":
        move = "pull_out"
    elif tone == "mysterious":
        move = "tilt_down"
    else:
        move = "pan_right" if index % 2 else "pan_left"
    if move == previous:
        move = next(candidate for candidate in _MOVE_FALLBACKS if candidate != previous)
    return move


def _subject(narration: str, language: str) -> str:
    """The leading clause, or the next one when the leading clause is a short lead-in
    ("Every night, ...", "最后一天，...")."""
    tokens = tokenize(narration)
    clauses = [_strip_connectives(_EDGE_PUNCTUATION.sub("", tokens.slice(*span))) for span in _clauses(tokens)]
    candidates = [clause for clause in clauses if clause][:2]
    if not candidates:
        return _shorten_title(_EDGE_PUNCTUATION.sub("", narration) or narration, language)
    if len(candidates) == 2 and _weight(candidates[1]) >= _LEAD_IN_RATIO * _weight(candidates[0]):
        return _shorten_title(candidates[1], language)
    return _shorten_title(candidates[0], language)


def _weight(text: str) -> float:
    return sum(atom.weight for atom in tokenize(text).atoms)


def _clauses(tokens: Tokens) -> list[Span]:
    cuts = [k + 1 for k, strength in enumerate(tokens.breaks) if strength >= Break.COMMA]
    bounds = [0, *cuts, len(tokens.atoms)]
    return list(itertools.pairwise(bounds))


def _strip_connectives(clause: str) -> str:
    for word in _ZH_CONNECTIVES:
        if clause.startswith(word):
            return clause[len(word) :].strip()
    head, _, rest = clause.partition(" ")
    if head.lower() in _EN_CONNECTIVES:
        return rest.strip()
    return clause


def _shorten_title(title: str, language: str) -> str:
    tokens = tokenize(title)
    limit = _SUBJECT_LIMIT[language]
    total, stop = 0.0, 0
    while stop < len(tokens.atoms) and total + tokens.atoms[stop].weight <= limit:
        total += tokens.atoms[stop].weight
        stop += 1
    if stop < len(tokens.atoms):
        stop = _natural_title_end([atom.core for atom in tokens.atoms], max(stop, 1))
        title = _EDGE_PUNCTUATION.sub("", tokens.slice(0, stop)) + TITLE_CUT_MARK
    return title[:1].upper() + title[1:] if language == "en" else title


def _natural_title_end(cores: list[str], stop: int) -> int:
    """Pull a cut title back to where it reads as a phrase, when such a place is near."""
    for end in range(stop, max(1, stop * 3 // 8) - 1, -1):
        last, following = cores[end - 1], cores[end] if end < len(cores) else ""
        if is_cjk(last[0]):
            if last in _ZH_BREAK_AFTER or following in _ZH_BREAK_BEFORE:
                return end
        elif last.lower() not in _EN_TRAILING_STOPWORDS:
            return end
    return stop


def _detail(narration: str, language: str, style: str, tone: str, move: str) -> str:
    scene = _scene(narration)
    shot_size, lighting = _SHOT_SIZE[language][move], _LIGHTING[language][tone]
    if language == "zh":
        return f"{_style_phrase(style, language)}{shot_size}：{scene}。{lighting}。"
    return f"{scene}. {shot_size[:1].upper()}{shot_size[1:]}, {_style_phrase(style, language)}{lighting}."


def _style_phrase(style: str, language: str) -> str:
    """Style as a phrase: 写实 -> "写实风格，", anime -> "anime style, ", nothing -> ""."""
    if not style:
        return ""
    suffix, endings, separator = _STYLE_WORDING[language]
    return (style if style.lower().endswith(endings) else style + suffix) + separator


def _scene(narration: str) -> str:
    """The narration as picture content: quotes and closing punctuation dropped, long text cut at a
    clause boundary."""
    tokens = tokenize(narration)
    total, stop, last_clause_end = 0.0, 0, 0
    while stop < len(tokens.atoms) and total + tokens.atoms[stop].weight <= _SCENE_LIMIT:
        total += tokens.atoms[stop].weight
        stop += 1
        if stop < len(tokens.atoms) and tokens.breaks[stop - 1] >= Break.COMMA:
            last_clause_end = stop
    if stop < len(tokens.atoms) and last_clause_end:
        stop = last_clause_end
    scene = tokens.slice(0, max(stop, 1))
    scene = re.sub(r"[“”「」『』\"]", "", scene)
    return _EDGE_PUNCTUATION.sub("", scene)
