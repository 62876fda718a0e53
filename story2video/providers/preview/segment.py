"""Where the preview storyboard cuts a script into shots.

A shot is a run of whole sentences whose narration takes at most ``cap`` seconds to say (estimated at
the preview speech's rate). Only a sentence longer than the cap is cut inside: at its clause marks,
and a clause longer than the cap between words. Among the groupings that keep to the cap, one dynamic
programme picks the cheapest: every shot costs a little, a very short shot costs more, cutting inside a
sentence or a quotation costs more still, and cutting where a paragraph ends or a scene changes
(清晨 / 第二天 / That night) earns a little back. With a fixed number of shots (the caller's, or the
most allowed) the same costs decide where the cuts go.
"""

from __future__ import annotations

import bisect
import itertools
import math

from story2video.providers.preview.scenes import opens_scene
from story2video.providers.preview.text import PAUSE_SECONDS, Break, Tokens, atom_seconds

Span = tuple[int, int]  # atoms[first:stop]

_MIN_SHOT_SECONDS = 2.5  # a shorter shot flashes by
_SHOT_COST = 1.0  # what one more shot costs when the count is free
_SHORT_COST = 2.0
_TARGET_SHARE = 0.6  # of the cap: the length a shot settles at when nothing else decides
_SHAPE_COST = 0.5
_OVER_CAP_COST = 100.0
_CUT_COST = {Break.NONE: 3.0, Break.COMMA: 1.0, Break.SENTENCE: 0.0, Break.PARAGRAPH: -0.5}
_SCENE_CUT = -0.7
_QUOTE_CUT = 0.8
_SCENE_LOOKAHEAD = 12  # atoms read to recognise a scene change at a sentence's start
_PIECES_PER_SHOT = 8  # a fixed count chooses among at most about this many pieces per shot
_COARSEN_STEP = 8
_WINDOW_SHARE = 3.0  # with a fixed count, a shot holds at most this many times the average length
_OVERFLOW_SHARE = 1.2  # when the cap cannot hold, shots up to this much over the average cost nothing more


class TooFewPieces(Exception):
    """The script has fewer sentences and clauses than the shots wanted."""

    def __init__(self, possible: int):
        super().__init__(possible)
        self.possible = possible


class Timeline:
    """The script's atoms, how long each takes to say, and what a cut before each costs."""

    def __init__(self, tokens: Tokens):
        self.tokens = tokens
        breaks = tokens.breaks
        self.prefix = [0.0]
        for index, atom in enumerate(tokens.atoms):
            pause = PAUSE_SECONDS[breaks[index]] if index < len(breaks) else 0.0
            self.prefix.append(self.prefix[-1] + atom_seconds(atom) + pause)
        self.size = len(tokens.atoms)
        starts = [index + 1 for index, strength in enumerate(breaks) if strength >= Break.SENTENCE]
        self.sentences = list(itertools.pairwise([0, *starts, self.size]))
        self.scene_starts = {
            start for start in starts if opens_scene(tokens.slice(start, min(start + _SCENE_LOOKAHEAD, self.size)))
        }

    @property
    def total(self) -> float:
        return self.prefix[-1]

    def seconds(self, first: int, stop: int) -> float:
        return self.prefix[stop] - self.prefix[first]

    def cut_cost(self, cut: int) -> float:
        """The cost of ending a shot before atom ``cut``; nothing at the script's end."""
        if cut >= self.size:
            return 0.0
        cost = _CUT_COST[self.tokens.breaks[cut - 1]]
        if cut in self.scene_starts:
            cost += _SCENE_CUT
        if self.tokens.quoted[cut - 1]:
            cost += _QUOTE_CUT
        return cost


def plan_shots(timeline: Timeline, cap: float, low: int, high: int) -> list[Span]:
    """The shots' spans: between ``low`` and ``high`` of them, each under ``cap`` seconds when ``high``
    allows. Raises ``TooFewPieces`` when even cutting at every clause mark gives fewer than ``low``."""
    pieces = _sentence_pieces(timeline, cap)
    if timeline.total <= cap * high:
        shots = _free_grouping(timeline, pieces, cap)
        if low <= len(shots) <= high:
            return shots
        count = min(max(len(shots), low), high)
    else:
        count = high  # more shots than allowed would be needed: shots grow past the cap, evenly
    if count > len(pieces):
        pieces = _clause_pieces(timeline, cap)
        if count > len(pieces):
            raise TooFewPieces(len(pieces))
    return _fixed_grouping(timeline, pieces, count, cap)


def _sentence_pieces(timeline: Timeline, cap: float) -> list[Span]:
    """Whole sentences; a sentence over the cap as its clauses."""
    pieces: list[Span] = []
    for first, stop in timeline.sentences:
        if timeline.seconds(first, stop) <= cap:
            pieces.append((first, stop))
        else:
            pieces.extend(_clauses(timeline, first, stop, cap))
    return pieces


def _clause_pieces(timeline: Timeline, cap: float) -> list[Span]:
    return [piece for first, stop in timeline.sentences for piece in _clauses(timeline, first, stop, cap)]


def _clauses(timeline: Timeline, first: int, stop: int, cap: float) -> list[Span]:
    """The clauses of atoms[first:stop]; a clause over the cap in even parts cut between words."""
    breaks = timeline.tokens.breaks
    cuts = [index + 1 for index in range(first, stop - 1) if breaks[index] >= Break.COMMA]
    return [part for clause in itertools.pairwise([first, *cuts, stop]) for part in _even_parts(timeline, *clause, cap)]


def _even_parts(timeline: Timeline, first: int, stop: int, cap: float) -> list[Span]:
    """Parts of about equal length, each at most ``cap`` (a cut lands within one atom of its mark, so
    the marks are spaced one atom closer than the cap)."""
    if timeline.seconds(first, stop) <= cap:
        return [(first, stop)]
    longest_atom = max(timeline.seconds(index, index + 1) for index in range(first, stop))
    room = cap - longest_atom
    parts = stop - first if room <= 0 else min(stop - first, math.ceil(timeline.seconds(first, stop) / room))
    step = timeline.seconds(first, stop) / parts
    cuts: list[int] = []
    for part in range(1, parts):
        cut = bisect.bisect_left(timeline.prefix, timeline.prefix[first] + part * step, first + 1, stop)
        cut = max(cut, (cuts[-1] if cuts else first) + 1)
        if cut < stop:
            cuts.append(cut)
    return list(itertools.pairwise([first, *cuts, stop]))


def _shot_cost(seconds: float, target: float, cap: float) -> float:
    cost = _SHAPE_COST * ((seconds - target) / target) ** 2
    if seconds < _MIN_SHOT_SECONDS:
        cost += _SHORT_COST * ((_MIN_SHOT_SECONDS - seconds) / _MIN_SHOT_SECONDS) ** 2
    if seconds > cap:
        cost += _OVER_CAP_COST * ((seconds - cap) / cap) ** 2
    return cost


def _free_grouping(timeline: Timeline, pieces: list[Span], cap: float) -> list[Span]:
    """The cheapest grouping of ``pieces`` into shots of at most ``cap`` seconds, in any number."""
    target = _TARGET_SHARE * cap
    count = len(pieces)
    best = [0.0] + [math.inf] * count
    back = [0] * (count + 1)
    for end in range(1, count + 1):
        stop = pieces[end - 1][1]
        closing = timeline.cut_cost(stop) + _SHOT_COST
        for start in range(end - 1, -1, -1):
            seconds = timeline.seconds(pieces[start][0], stop)
            if seconds > cap and start < end - 1:
                break
            cost = best[start] + _shot_cost(seconds, target, cap) + closing
            if cost < best[end]:
                best[end], back[end] = cost, start
    return _spans(pieces, back, count)


def _fixed_grouping(timeline: Timeline, pieces: list[Span], shots: int, cap: float) -> list[Span]:
    """The cheapest grouping of ``pieces`` into exactly ``shots`` shots (``shots <= len(pieces)``)."""
    pieces = _coarsen(timeline, pieces, _PIECES_PER_SHOT * shots)
    within_cap = _exact_grouping(timeline, pieces, shots, cap, window=cap)
    if within_cap is not None:
        return within_cap
    average = timeline.total / shots  # the cap cannot hold: lengths even out around the average instead
    soft_cap = max(cap, _OVERFLOW_SHARE * average)
    return _exact_grouping(timeline, pieces, shots, soft_cap, window=_WINDOW_SHARE * average) or _exact_grouping(
        timeline, pieces, shots, soft_cap, window=math.inf
    )


def _coarsen(timeline: Timeline, pieces: list[Span], wanted: int) -> list[Span]:
    """Fewer, longer pieces (about ``wanted``), grouped by the same costs, an eighth as many at a time so
    that each pass stays cheap."""
    while len(pieces) > wanted:
        fewer = max(wanted, len(pieces) // _COARSEN_STEP)
        grouped = _free_grouping(timeline, pieces, 2 * timeline.total / fewer)
        if len(grouped) >= len(pieces):
            break
        pieces = grouped
    return pieces


def _exact_grouping(
    timeline: Timeline, pieces: list[Span], shots: int, cap: float, *, window: float
) -> list[Span] | None:
    """Dynamic programme over (shots so far, pieces so far); ``window`` bounds a shot's length (one piece
    always fits). None when no grouping fits the window."""
    count = len(pieces)
    target = timeline.total / shots
    best = [[math.inf] * (count + 1) for _ in range(shots + 1)]
    back = [[0] * (count + 1) for _ in range(shots + 1)]
    best[0][0] = 0.0
    for shot in range(1, shots + 1):
        previous, current = best[shot - 1], best[shot]
        for end in range(shot, count - (shots - shot) + 1):
            stop = pieces[end - 1][1]
            closing = timeline.cut_cost(stop)
            for start in range(end - 1, shot - 2, -1):
                seconds = timeline.seconds(pieces[start][0], stop)
                if seconds > window and start < end - 1:
                    break
                cost = previous[start] + _shot_cost(seconds, target, cap) + closing
                if cost < current[end]:
                    current[end], back[shot][end] = cost, start
    if math.isinf(best[shots][count]):
        return None
    spans: list[Span] = []
    end = count
    for shot in range(shots, 0, -1):
        start = back[shot][end]
        spans.append((pieces[start][0], pieces[end - 1][1]))
        end = start
    return spans[::-1]


def _spans(pieces: list[Span], back: list[int], end: int) -> list[Span]:
    spans: list[Span] = []
    while end > 0:
        start = back[end]
        spans.append((pieces[start][0], pieces[end - 1][1]))
        end = start
    return spans[::-1]
