"""Text helpers for the preview backends: language detection, sentence structure, CJK-aware wrapping.

The script is cut into *atoms*: one CJK character or one non-CJK word, each carrying the
punctuation and whitespace around it (closing marks stick to the atom before them, opening
quotes and brackets to the atom after them). Atoms partition the text, so any run of atoms
is an exact slice of it. Between two atoms lies a break of some strength (see ``Break``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

_CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_CJK_CHAR = re.compile(f"[{_CJK_RANGES}]")
_HAN_CHAR = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
_WORD_CHAR = f"[^\\W_{_CJK_RANGES}]"
_ATOM = re.compile(f"(?P<cjk>{_CJK_CHAR.pattern})|(?P<word>{_WORD_CHAR}+(?:['’\\-.]{_WORD_CHAR}+)*)")
_SPACES = re.compile(r"\s+")
_SPACE_BETWEEN_CJK = re.compile(
    f"(?<=[{_CJK_RANGES}\u3000-\u303f\uff00-\uffef“”‘’]) (?=[{_CJK_RANGES}\u3000-\u303f\uff00-\uffef“”‘’])"
)

WORD_WEIGHT = 1.7  # one English word carries about as much narration as 1.7 Chinese characters

_OPENING = set("“‘「『（(【《〈[{")
_ASCII_QUOTES = set("\"'")
_STRONG_TERMINATORS = set("。！？；!?;…")
_COMMAS = set("，,、：:—")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st jr sr prof vs etc e.g i.e u.s u.k no fig gen col lt sgt capt mt ave".split()
)


class Break(IntEnum):
    """How strongly the text separates two neighbouring atoms."""

    NONE = 0
    COMMA = 1
    SENTENCE = 2
    PARAGRAPH = 3


@dataclass(frozen=True)
class Atom:
    start: int  # slice of the text, punctuation and spacing included
    end: int
    core: str  # the character or word itself
    weight: float


@dataclass(frozen=True)
class Tokens:
    text: str
    atoms: list[Atom]
    breaks: list[Break]  # breaks[k] separates atoms[k] and atoms[k + 1]

    def slice(self, first: int, stop: int) -> str:
        """The cleaned text of atoms[first:stop]."""
        return clean_spaces(self.text[self.atoms[first].start : self.atoms[stop - 1].end])


def is_cjk(char: str) -> bool:
    return bool(_CJK_CHAR.match(char))


def contains_han(text: str) -> bool:
    return bool(_HAN_CHAR.search(text))


def script_language(text: str) -> str:
    """The script's main language: "zh" when CJK characters outnumber other words, else "en"."""
    cjk = len(_CJK_CHAR.findall(text))
    words = sum(1 for m in _ATOM.finditer(text) if m.group("word"))
    return "zh" if cjk and cjk >= words else "en"


def clean_spaces(text: str) -> str:
    """Collapse whitespace to single spaces and drop spaces between CJK characters."""
    return _SPACE_BETWEEN_CJK.sub("", _SPACES.sub(" ", text).strip())


def tokenize(text: str) -> Tokens:
    cores = [(m.start(), m.end(), m.group()) for m in _ATOM.finditer(text)]
    if not cores:
        return Tokens(text, [], [])
    starts = [0] + [_leading_start(text, cores[k][1], cores[k + 1][0]) for k in range(len(cores) - 1)]
    ends = starts[1:] + [len(text)]
    atoms = [
        Atom(start, end, core, 1.0 if is_cjk(core[0]) else WORD_WEIGHT)
        for start, end, (_, _, core) in zip(starts, ends, cores, strict=True)
    ]
    breaks = [_break_after(text, cores, k, ends[k]) for k in range(len(cores) - 1)]
    return Tokens(text, atoms, breaks)


def split_sentences(text: str) -> list[str]:
    """Sentences (and paragraphs) of ``text``, cleaned, in order; nothing is dropped but blank space."""
    tokens = tokenize(text)
    if not tokens.atoms:
        return [clean_spaces(text)] if text.strip() else []
    sentences, first = [], 0
    for k, strength in enumerate(tokens.breaks):
        if strength >= Break.SENTENCE:
            sentences.append(tokens.slice(first, k + 1))
            first = k + 1
    sentences.append(tokens.slice(first, len(tokens.atoms)))
    return sentences


def _leading_start(text: str, prev_end: int, next_start: int) -> int:
    """Where the opening marks glued to the next atom begin, within the gap between two atoms."""
    start = next_start
    while start > prev_end and _opens(text, start - 1):
        start -= 1
    return start


def _opens(text: str, index: int) -> bool:
    char = text[index]
    if char in _OPENING:
        return True
    return char in _ASCII_QUOTES and (index == 0 or text[index - 1].isspace() or text[index - 1] in _OPENING)


def _break_after(text: str, cores: list[tuple[int, int, str]], k: int, gap_end: int) -> Break:
    gap = text[cores[k][1] : gap_end]
    next_core = cores[k + 1][2]
    soft_wrap = gap.count("\n") == 1 and next_core[0].islower() and not (set(gap) & _STRONG_TERMINATORS)
    if "\n" in gap and not soft_wrap:
        return Break.PARAGRAPH
    if set(gap) & _STRONG_TERMINATORS or "..." in gap or _ends_sentence_with_period(gap, cores[k][2], next_core):
        return Break.SENTENCE
    if set(gap) & _COMMAS:
        return Break.COMMA
    return Break.NONE


def _ends_sentence_with_period(gap: str, word: str, next_core: str) -> bool:
    if "." not in gap:
        return False
    after = gap[gap.index(".") + 1 :]
    followed_by_space = any(ch.isspace() for ch in after) or is_cjk(next_core[0])
    is_initial = len(word) == 1 and word.isupper()
    return followed_by_space and word.lower() not in _ABBREVIATIONS and not is_initial and not next_core[0].islower()


# ---------------------------------------------------------------- wrapping


def wrap(text: str, measure: Callable[[str], float], max_width: float) -> list[str]:
    """Greedy line breaking: between any two CJK characters, between words, never inside a word
    unless the word alone is wider than a line."""
    tokens = tokenize(text)
    if not tokens.atoms:
        return _break_long_piece(clean_spaces(text), measure, max_width) if text.strip() else []
    lines: list[str] = []
    line = ""
    for atom in tokens.atoms:
        piece = text[atom.start : atom.end]
        candidate = (line + piece).strip()
        if not line.strip() or measure(candidate) <= max_width:
            line += piece
            continue
        lines.append(line.strip())
        line = piece.lstrip()
    lines.append(line.strip())
    return [part for line in lines for part in _break_long_piece(line, measure, max_width)]


def _break_long_piece(line: str, measure: Callable[[str], float], max_width: float) -> list[str]:
    if measure(line) <= max_width:
        return [line]
    parts: list[str] = []
    current = ""
    for char in line:
        if current and measure(current + char) > max_width:
            parts.append(current.strip())
            current = char.lstrip()
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def ellipsize(line: str, measure: Callable[[str], float], max_width: float) -> str:
    """``line`` cut short enough that it still fits with a trailing ellipsis."""
    cut = line.rstrip()
    while cut and measure(cut + "…") > max_width:
        cut = cut[:-1].rstrip()
    return cut + "…"
