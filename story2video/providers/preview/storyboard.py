"""A rule-based storyboard: cut the script into shots at its natural boundaries, no model involved."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable

from story2video.errors import InvalidRequest
from story2video.providers.base import BackendStatus, ShotDraft, StageContext, StoryboardRequest
from story2video.providers.preview.text import Break, Tokens, script_language, tokenize
from story2video.providers.preview.wording import describe_shots

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
