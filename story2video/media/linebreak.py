"""Where subtitle text may break, and balanced breaking by measured width.

Text is cut into *pieces* that are never broken: one Chinese character (or kana, Hangul) with the
punctuation that may not start a line, one Latin word with its punctuation, an opening quote or
bracket with what follows it, and an abbreviation ("Mrs.", "e.g.") with the word after it. Between
two pieces lies a break whose strength says how natural it is to cut there.

Spacing always comes from the text itself: nothing is inserted when pieces are joined, and the
spaces an author typed next to full-width punctuation or between Chinese characters are dropped.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum

Measure = Callable[[str], float]

# Full-width scripts: CJK symbols, punctuation, kana and ideographs; Hangul; compatibility
# ideographs; full-width forms. Each character may start a new line.
_WIDE = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
_WIDE_RE = re.compile(f"[{_WIDE}]")
_FULL_WIDTH_MARK = "\u3000-\u303f\uff00-\uffef"  # punctuation and symbols of the full-width forms
_TOKEN_RE = re.compile(f"[{_WIDE}]|[^\\s{_WIDE}]+")  # one wide character | a Latin word
# A typed space that is not wanted: next to full-width punctuation, or between two wide characters
# (curly quotes count as wide next to a wide character: Chinese text quotes with them).
_STRAY_SPACE_RE = re.compile(
    f"(?<=[{_FULL_WIDTH_MARK}]) | (?=[{_FULL_WIDTH_MARK}])|(?<=[{_WIDE}“”‘’]) (?=[{_WIDE}])|(?<=[{_WIDE}]) (?=[“”‘’])"
)
# Line-breaking rules (kinsoku): marks that may not start a line, and openers that may not end one.
_NO_LINE_START = "，。、；：！？…）」』”’》〉】,.;:!?)]}"
_NO_LINE_END = "（「『“‘《〈【([{"
_CLOSERS = "」』”’）》〉】)]}\"'"
_SENTENCE_ENDS = "。！？!?…."
_CLAUSE_ENDS = "，、；：,;:—–"
# Abbreviations that end in a period but not a sentence; a line never ends after one.
ABBREVIATIONS = frozenset(
    "mr mrs ms mx dr st jr sr prof rev hon gen col lt sgt capt mt ave vs etc e.g i.e cf approx u.s u.k".split()
)


class Break(IntEnum):
    """How natural it is to cut between two pieces."""

    WORD = 1  # between words or Chinese characters
    CLAUSE = 2  # after a comma, colon, semicolon, enumeration comma or dash
    SENTENCE = 3  # after a full stop, question or exclamation mark


@dataclass(frozen=True)
class Piece:
    text: str
    spaced: bool  # a space separates it from the piece before it


def normalise(text: str) -> str:
    """Whitespace collapsed to single spaces, stray spaces around full-width text dropped."""
    return _STRAY_SPACE_RE.sub("", " ".join(text.split()))


def pieces(text: str) -> list[Piece]:
    """The unbreakable pieces of ``normalise(text)``, in order; joined they give it back."""
    text = normalise(text)
    found = [(m.group(), m.start() > 0 and text[m.start() - 1] == " ") for m in _TOKEN_RE.finditer(text)]
    glued: list[Piece] = []
    for token, spaced in found:
        if glued and not spaced and (token[0] in _NO_LINE_START or glued[-1].text[-1] in _NO_LINE_END):
            glued[-1] = Piece(glued[-1].text + token, glued[-1].spaced)
        elif glued and spaced and _ends_with_abbreviation(glued[-1].text):
            glued[-1] = Piece(f"{glued[-1].text} {token}", glued[-1].spaced)
        else:
            glued.append(Piece(token, spaced))
    return glued


def _ends_with_abbreviation(text: str) -> bool:
    word = text.rsplit(" ", 1)[-1].lstrip("\"'“‘([{")
    if not word.endswith(".") or word.endswith(".."):
        return False
    core = word[:-1]
    return core.lower() in ABBREVIATIONS or (len(core) == 1 and core.isalpha() and core.isupper())


def join(parts: Sequence[Piece]) -> str:
    return "".join((" " if index and piece.spaced else "") + piece.text for index, piece in enumerate(parts))


def break_after(piece: Piece) -> Break:
    last = piece.text.rstrip(_CLOSERS)[-1:] or piece.text[-1]
    if last in _SENTENCE_ENDS:
        return Break.SENTENCE
    if last in _CLAUSE_ENDS:
        return Break.CLAUSE
    return Break.WORD


def wide_count(text: str) -> int:
    return len(_WIDE_RE.findall(text))


@dataclass(frozen=True)
class LineRule:
    """What one line may hold: ``max_width`` as ``measure`` counts it, at most ``max_wide``
    full-width characters (Chinese lines are kept short enough to read at a glance)."""

    measure: Measure
    max_width: float
    max_wide: int


class Run:
    """A sequence of pieces with prefix sums, so the width of any stretch costs O(1)."""

    def __init__(self, parts: Sequence[Piece], rule: LineRule):
        self.parts = _split_overwide(list(parts), rule)
        self.rule = rule
        space = rule.measure(" ")
        widths = [rule.measure(piece.text) for piece in self.parts]
        self._width = list(itertools.accumulate(widths, initial=0.0))
        self._space = list(itertools.accumulate((space if p.spaced else 0.0 for p in self.parts), initial=0.0))
        self._wide = list(itertools.accumulate((wide_count(p.text) for p in self.parts), initial=0))

    def __len__(self) -> int:
        return len(self.parts)

    def width(self, first: int, stop: int) -> float:
        """Width of parts[first:stop] set on one line (the space before the first piece not counted)."""
        return self._width[stop] - self._width[first] + self._space[stop] - self._space[first + 1]

    def fits(self, first: int, stop: int) -> bool:
        return (
            self.width(first, stop) <= self.rule.max_width
            and self._wide[stop] - self._wide[first] <= self.rule.max_wide
        )

    def text(self, first: int, stop: int) -> str:
        return join(self.parts[first:stop])

    def greedy_spans(self, first: int, stop: int, at_most: int | None = None) -> list[tuple[int, int]]:
        """Lines filled one after another, as (first, stop) spans: the fewest lines there can be.
        Filling stops once it passes ``at_most`` lines."""
        spans: list[tuple[int, int]] = []
        start = first
        while start < stop and (at_most is None or len(spans) <= at_most):
            end = start + 1
            while end < stop and self.fits(start, end + 1):
                end += 1
            spans.append((start, end))
            start = end
        return spans

    def greedy_lines(self, first: int, stop: int, at_most: int | None = None) -> int:
        return len(self.greedy_spans(first, stop, at_most))


def _split_overwide(parts: list[Piece], rule: LineRule) -> list[Piece]:
    """Pieces wider than a line cut into the longest prefixes that fit (a last resort)."""
    result: list[Piece] = []
    for piece in parts:
        text, spaced = piece.text, piece.spaced
        while len(text) > 1 and (rule.measure(text) > rule.max_width or wide_count(text) > rule.max_wide):
            cut = 1
            while cut < len(text) and rule.measure(text[: cut + 1]) <= rule.max_width and wide_count(text[: cut + 1]) <= rule.max_wide:
                cut += 1
            result.append(Piece(text[:cut], spaced))
            text, spaced = text[cut:].lstrip(), False
        if text:
            result.append(Piece(text, spaced))
    return result


# Costs, in units of a full line's squared width share. A break at punctuation is worth a little
# imbalance; a line (or cue) of one lone word or character is worth avoiding at almost any price.
_LINE_BREAK_BONUS = {Break.WORD: 0.0, Break.CLAUSE: 0.12, Break.SENTENCE: 0.35}
_ORPHAN_COST = 1.5
_CUE_COST = 1.0
_CUE_CUT_COST = {Break.WORD: 1.2, Break.CLAUSE: 0.3, Break.SENTENCE: 0.0}
_SENTENCES_RUN_ON_COST = 1.2  # a cue whose lines run one sentence into the next: worse than one more cue


def balanced_lines(run: Run, first: int = 0, stop: int | None = None) -> list[str]:
    """parts[first:stop] on the fewest lines that fit, then as even as possible, preferring breaks
    at punctuation and never leaving a line of one short word or one or two characters alone."""
    stop = len(run) if stop is None else stop
    if first >= stop:
        return []
    fewest = run.greedy_lines(first, stop)
    # best[k][j]: (cost, previous end) for parts[first:j] on k lines
    best: list[dict[int, tuple[float, int]]] = [{first: (0.0, -1)}]
    for lines in range(1, fewest + 1):
        layer: dict[int, tuple[float, int]] = {}
        for start, (cost_before, _) in best[-1].items():
            for end in range(start + 1, stop + 1):
                if not run.fits(start, end):
                    break
                cost = cost_before + _line_cost(run, start, end, stop, multi=fewest > 1)
                if end not in layer or cost < layer[end][0]:
                    layer[end] = (cost, start)
        best.append(layer)
    ends = [stop]
    for lines in range(fewest, 1, -1):
        ends.append(best[lines][ends[-1]][1])
    ends.reverse()
    starts = [first, *ends[:-1]]
    return [run.text(start, end) for start, end in zip(starts, ends)]


def _line_cost(run: Run, start: int, end: int, stop: int, *, multi: bool) -> float:
    share = run.width(start, end) / run.rule.max_width
    cost = share * share
    if end < stop:
        cost -= _LINE_BREAK_BONUS[break_after(run.parts[end - 1])]
    if multi and _is_orphan(run, start, end):
        cost += _ORPHAN_COST
    return cost


def _is_orphan(run: Run, start: int, end: int) -> bool:
    """A line of one Latin word, or of one or two Chinese characters (with their punctuation)."""
    text = run.text(start, end)
    if not wide_count(text):
        return end - start == 1
    return len(text.strip(_NO_LINE_START + _NO_LINE_END)) <= 2


def _sentences_run_on(run: Run, start: int, end: int, sentence_ends: list[int], lines: int, max_lines: int) -> bool:
    """Whether a cue of ``lines`` lines holds more than one sentence without giving each its own
    line(s): fine on a single line, hard to read when a line break falls inside a sentence that
    follows another. ``sentence_ends`` are the piece indices inside the cue where a sentence ends."""
    if not sentence_ends or lines <= 1:
        return False
    bounds = [start, *sentence_ends, end]
    return len(bounds) - 1 > max_lines or not all(run.fits(a, b) for a, b in zip(bounds, bounds[1:]))


def cue_spans(run: Run, max_lines: int) -> list[tuple[int, int]]:
    """Cut the run into cues of at most ``max_lines`` lines: few cues, cut at sentence ends where
    possible, then at clause ends, and of balanced length. Each cue's line count is kept up to date
    as it grows (greedy filling), so the search is linear in the cues' length."""
    count = len(run)
    capacity = run.rule.max_width * max_lines
    best: list[tuple[float, int]] = [(0.0, -1)] + [(float("inf"), -1)] * count
    for start in range(count):
        if best[start][0] == float("inf"):
            continue
        lines, line_start, sentence_ends = 1, start, []
        for end in range(start + 1, count + 1):
            if not run.fits(line_start, end):
                lines, line_start = lines + 1, end - 1
                if lines > max_lines:
                    break
            if end - 1 > start and break_after(run.parts[end - 2]) is Break.SENTENCE:
                sentence_ends.append(end - 1)
            share = run.width(start, end) / capacity
            cost = best[start][0] + _CUE_COST + share * share
            if end < count:
                cost += _CUE_CUT_COST[break_after(run.parts[end - 1])]
            if count > 1 and _is_orphan(run, start, end):
                cost += _ORPHAN_COST
            if _sentences_run_on(run, start, end, sentence_ends, lines, max_lines):
                cost += _SENTENCES_RUN_ON_COST
            if cost < best[end][0]:
                best[end] = (cost, start)
    spans, end = [], count
    while end > 0:
        start = best[end][1]
        spans.append((start, end))
        end = start
    return spans[::-1]
