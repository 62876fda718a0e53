"""A rule-based storyboard: cut the script into shots at its natural boundaries, no model involved."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import re
from collections.abc import Callable

from story2video.errors import InvalidRequest
from story2video.providers.base import BackendStatus, ShotDraft, StageContext, StoryboardRequest
from story2video.providers.preview.text import WORD_WEIGHT, Break, Tokens, is_cjk, script_language, tokenize

MIN_WEIGHT = 8.0  # shorter units (≈ 8 CJK characters / 5 English words) merge with a neighbour
MAX_WEIGHT = 60.0  # longer units (≈ 60 CJK characters / 35 English words) are split
_PARAGRAPH_MERGE_PENALTY = 2.0
_MIN_BALANCE = 0.25  # a split point must leave at least this share of the unit on each side

Span = tuple[int, int]  # atoms[first:stop]


class PreviewStoryboardWriter:
    backend = "preview"
    model = "rule-based-v1"

    async def write(self, request: StoryboardRequest, ctx: StageContext) -> list[ShotDraft]:
        ctx.raise_if_cancelled()
        drafts = await asyncio.to_thread(build_storyboard, request)
        ctx.progress(1.0)
        return drafts

    async def status(self) -> BackendStatus:
        return BackendStatus(
            stage="storyboard",
            backend=self.backend,
            model=self.model,
            ready=True,
            detail="rule-based segmentation of the script; no model needed",
        )


def build_storyboard(request: StoryboardRequest) -> list[ShotDraft]:
    low, high = _shot_range(request)
    tokens = tokenize(request.script)
    if not tokens.atoms:
        raise InvalidRequest("the script contains no words to narrate", param="script_content")
    spans = _Segmenter(tokens).segment(low, high, exact=request.shot_count is not None)
    narrations = [tokens.slice(first, stop) for first, stop in spans]
    return describe_shots(narrations, script_language(request.script), request.style)


def _shot_range(request: StoryboardRequest) -> tuple[int, int]:
    if request.shot_count is not None:
        if request.shot_count < 1:
            raise InvalidRequest("shot_count must be at least 1", param="shot_count")
        return request.shot_count, request.shot_count
    if request.min_shots < 1 or request.max_shots < request.min_shots:
        raise InvalidRequest(
            f"need 1 <= min_shots <= max_shots, got {request.min_shots}..{request.max_shots}", param="max_shots"
        )
    return request.min_shots, request.max_shots


class _Segmenter:
    def __init__(self, tokens: Tokens):
        self.breaks = tokens.breaks
        self.prefix = [0.0]
        for atom in tokens.atoms:
            self.prefix.append(self.prefix[-1] + atom.weight)

    def segment(self, low: int, high: int, *, exact: bool) -> list[Span]:
        spans = self._sentences()
        spans = [piece for span in spans for piece in self._split_long(span)]
        spans = self._merge_short(spans)
        spans = self._merge_down_to(spans, high)
        return self._split_up_to(spans, low, exact=exact)

    def weight(self, span: Span) -> float:
        return self.prefix[span[1]] - self.prefix[span[0]]

    def _sentences(self) -> list[Span]:
        cuts = [k + 1 for k, strength in enumerate(self.breaks) if strength >= Break.SENTENCE]
        bounds = [0, *cuts, len(self.prefix) - 1]
        return list(itertools.pairwise(bounds))

    def _split_long(self, span: Span) -> list[Span]:
        if self.weight(span) <= MAX_WEIGHT or span[1] - span[0] < 2:
            return [span]
        cut = self._split_point(span)
        return self._split_long((span[0], cut)) + self._split_long((cut, span[1]))

    def _split_point(self, span: Span) -> int:
        """The atom index to cut at: the strongest break in the unit's middle half, nearest its
        centre; the most balanced cut when the unit is too short to have a middle."""
        first, stop = span
        total = self.weight(span)

        def share(cut: int) -> float:
            return min(self.weight((first, cut)), self.weight((cut, stop))) / total

        cuts = range(first + 1, stop)
        balanced = [cut for cut in cuts if share(cut) >= _MIN_BALANCE]
        if not balanced:
            return max(cuts, key=share)
        return max(balanced, key=lambda cut: (self.breaks[cut - 1], share(cut)))

    def _merge_short(self, spans: list[Span]) -> list[Span]:
        """Merge each too-short unit, lightest first, into its lighter neighbour, preferring one in
        the same paragraph."""
        chain = _Chain(spans, self.weight)
        heap = [(chain.weight(i), i, 0) for i in range(len(spans)) if chain.weight(i) < MIN_WEIGHT]
        heapq.heapify(heap)
        while heap and chain.count > 1:
            _, index, version = heapq.heappop(heap)
            if not chain.is_current(index, version):
                continue
            partner = min(chain.neighbours(index), key=lambda j: self._merge_preference(chain, index, j))
            left = chain.merge(min(index, partner))
            if chain.weight(left) < MIN_WEIGHT:
                heapq.heappush(heap, (chain.weight(left), left, chain.version[left]))
        return chain.spans()

    def _merge_preference(self, chain: _Chain, index: int, partner: int) -> tuple[bool, float]:
        return self._crosses_paragraph(chain.span[min(index, partner)]), chain.weight(partner)

    def _crosses_paragraph(self, left: Span) -> bool:
        return self.breaks[left[1] - 1] == Break.PARAGRAPH

    def _merge_down_to(self, spans: list[Span], high: int) -> list[Span]:
        """Merge the cheapest adjacent pair (lightest, preferably within a paragraph) until at most
        ``high`` units remain."""
        chain = _Chain(spans, self.weight)
        heap: list[tuple[float, int, int, int]] = []
        for left in range(len(spans) - 1):
            self._push_pair(heap, chain, left)
        while chain.count > high:
            _, left, left_version, right_version = heapq.heappop(heap)
            right = chain.next[left] if chain.alive[left] else None
            if right is None or (chain.version[left], chain.version[right]) != (left_version, right_version):
                continue
            chain.merge(left)
            for pair_left in (chain.prev[left], left):
                if pair_left is not None:
                    self._push_pair(heap, chain, pair_left)
        return chain.spans()

    def _push_pair(self, heap: list[tuple[float, int, int, int]], chain: _Chain, left: int) -> None:
        right = chain.next[left]
        if right is None:
            return
        cost = chain.weight(left) + chain.weight(right)
        if self._crosses_paragraph(chain.span[left]):
            cost *= _PARAGRAPH_MERGE_PENALTY
        heapq.heappush(heap, (cost, left, chain.version[left], chain.version[right]))

    def _split_up_to(self, spans: list[Span], low: int, *, exact: bool) -> list[Span]:
        """Split units until there are ``low``: heavy units first, favouring those that split at a
        natural break (a merged sentence or paragraph boundary, then a comma)."""
        while len(spans) < low:
            options = [(i, self._split_point(span)) for i, span in enumerate(spans) if span[1] - span[0] >= 2]
            if not options:
                raise _too_short(len(spans), low, exact=exact)
            index, cut = max(
                options, key=lambda option: (self._split_priority(spans[option[0]], option[1]), -option[0])
            )
            first, stop = spans[index]
            spans = spans[:index] + [(first, cut), (cut, stop)] + spans[index + 1 :]
        return spans

    def _split_priority(self, span: Span, cut: int) -> float:
        return self.weight(span) * (1 + 0.5 * self.breaks[cut - 1])


class _Chain:
    """Units as a linked list, so that merging neighbours costs O(1). Indices are the units'
    original positions, hence ordered; ``version`` changes whenever a unit grows."""

    def __init__(self, spans: list[Span], weigh: Callable[[Span], float]):
        self.span = list(spans)
        self.prev: list[int | None] = [i - 1 if i > 0 else None for i in range(len(spans))]
        self.next: list[int | None] = [i + 1 if i + 1 < len(spans) else None for i in range(len(spans))]
        self.alive = [True] * len(spans)
        self.version = [0] * len(spans)
        self.count = len(spans)
        self._weigh = weigh

    def weight(self, index: int) -> float:
        return self._weigh(self.span[index])

    def is_current(self, index: int, version: int) -> bool:
        return self.alive[index] and self.version[index] == version

    def neighbours(self, index: int) -> list[int]:
        return [j for j in (self.prev[index], self.next[index]) if j is not None]

    def merge(self, left: int) -> int:
        """Join unit ``left`` with the one after it; returns ``left``."""
        right = self.next[left]
        assert right is not None
        self.span[left] = (self.span[left][0], self.span[right][1])
        self.version[left] += 1
        self.alive[right] = False
        self.next[left] = self.next[right]
        if self.next[right] is not None:
            self.prev[self.next[right]] = left
        self.count -= 1
        return left

    def spans(self) -> list[Span]:
        return [span for span, alive in zip(self.span, self.alive, strict=True) if alive]


def _too_short(possible: int, wanted: int, *, exact: bool) -> InvalidRequest:
    if exact:
        return InvalidRequest(
            f"the script is too short for shot_count={wanted}: it can be cut into at most {possible} shot(s)",
            param="shot_count",
        )
    return InvalidRequest(
        f"the script is too short: it can be cut into at most {possible} shot(s), at least {wanted} are needed",
        param="script_content",
    )


# ---------------------------------------------------------------- shot fields

_TONE_KEYWORDS = {  # tone: (Chinese substrings, English word stems)
    "tense": (
        "突然 猛地 危险 害怕 恐惧 惊恐 追 逃 尖叫 大喊 心跳 急忙 冲 枪 爆炸 血 颤抖 屏住 慌",
        r"sudden|danger|afraid|fear|terrif|panic|chas|flee|fled|scream|shout|gun|explo|blood|trembl|hurr|crash|rush",
    ),
    "joyful": (
        "笑 开心 高兴 快乐 欢 跳舞 唱 庆祝 兴奋 阳光 嘻",
        r"laugh|happ|joy|danc|sing|celebrat|excit|cheer|delight|grin",
    ),
    "sad": (
        "哭 泪 悲 伤心 难过 告别 死 孤独 失去 思念 想念 叹 沉默 雨",
        r"cry|cried|tear|sad|grief|griev|goodbye|farewell|die|died|death|lonel|lost|miss|sigh|rain|mourn",
    ),
    "mysterious": (
        "神秘 奇怪 秘密 黑暗 影子 夜 月 雾 古老 传说 未知 低语 幽",
        r"myster|strange|secret|dark|shadow|night|moon|fog|mist|ancient|legend|unknown|whisper",
    ),
    "warm": (
        "温暖 拥抱 妈妈 母亲 父亲 爸爸 家 爱 微笑 炉 陪 感谢 谢谢",
        r"warm|hug|embrac|mother|mom|father|dad|home|love|smil|together|thank|gentle",
    ),
    "calm": (
        "安静 平静 宁静 湖 微风 慢慢 清晨 睡 静静",
        r"quiet|calm|peace|lake|breeze|slow|still|morning|sleep|silen",
    ),
}
_TONE_PUNCTUATION = {"tense": ("！", "!"), "joyful": ("！", "!"), "mysterious": ("？", "?"), "sad": ("…", "...")}
_TONE_ORDER = ("tense", "sad", "mysterious", "joyful", "warm", "calm")  # who wins a tie
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
_SUBJECT_LIMIT = {"zh": 16.0, "en": 6 * WORD_WEIGHT}
_SCENE_LIMIT = 100.0
_STYLE_WORDING = {"zh": ("风格", ("风格", "风"), "，"), "en": (" style", ("style",), ", ")}
_LEAD_IN_RATIO = 1.5
_EDGE_PUNCTUATION = re.compile(r"^[\W_]+|[\W_]+$")


def describe_shots(narrations: list[str], language: str, style: str) -> list[ShotDraft]:
    drafts: list[ShotDraft] = []
    previous_move = ""
    for index, narration in enumerate(narrations):
        tone = _tone(narration)
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


def _tone(narration: str) -> str:
    lowered = narration.lower()
    scores = {tone: 0.0 for tone in _TONE_ORDER}
    for tone, (chinese, english) in _TONE_KEYWORDS.items():
        scores[tone] += sum(lowered.count(word) for word in chinese.split())
        scores[tone] += len(re.findall(rf"\b(?:{english})", lowered))
    for tone, marks in _TONE_PUNCTUATION.items():
        scores[tone] += 0.5 * sum(narration.count(mark) for mark in marks)
    best = max(_TONE_ORDER, key=lambda tone: (scores[tone], -_TONE_ORDER.index(tone)))
    return best if scores[best] > 0 else "neutral"


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
        title = _EDGE_PUNCTUATION.sub("", tokens.slice(0, stop))
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
