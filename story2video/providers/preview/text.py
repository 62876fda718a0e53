"""Text helpers for the preview backends: language detection, sentence structure, speaking time,
CJK-aware wrapping.

The script is cut into *atoms*: one CJK character or one non-CJK word, each carrying the
punctuation and whitespace around it (closing marks stick to the atom before them, opening
quotes and brackets to the atom after them). Atoms partition the text, so any run of atoms
is an exact slice of it. Between two atoms lies a break of some strength (see ``Break``).
A quotation that ends with a sentence mark and is followed by its attribution (“……？”她问道。 /
"Where?" she asked.) is one sentence: the break after the quote is only a ``COMMA``; so is an
ellipsis inside a quotation (“我……我没有钱。”).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

from story2video.media.linebreak import ABBREVIATIONS

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

# Speaking time as the preview speech (eSpeak NG at its base rate) takes it, fitted on Chinese and
# English stories: about 3.8 Chinese characters or 3.4 English words a second, plus the pauses.
CJK_SECONDS = 0.26
WORD_SECONDS = 0.29
_LETTERS_PER_WORD = 8  # a longer word takes proportionally longer
_DIGITS_PER_WORD = 2  # "214" is read "two hundred and fourteen", "2024年" 二千零二十四年

_OPENING = set("“‘「『（(【《〈[{")
_ASCII_QUOTES = set("\"'")
_STRONG_TERMINATORS = set("。！？；!?;…")
_COMMAS = set("，,、：:—")
_CLOSING_QUOTES = set("”’」』\"'")
_PAIRED_OPENING_QUOTES = set("“「『")
_PAIRED_CLOSING_QUOTES = set("”」』")
_FULL_STOPS = set("。！？；!?;.")
_ZH_SPEECH_VERB = re.compile("说|问|道|喊|叫|答|嚷|吼|叹|骂|劝|笑|哭|低语|嘀咕|喃喃|开口")
_ZH_NEGATION = re.compile("[不没未别]")
_ZH_ATTRIBUTION_CHARS = 10  # “……”她笑着问道 — the attribution is a short clause
_EN_ATTRIBUTION_WORDS = 3  # "...," said the old man / Tom asked
EN_SPEECH_VERBS = frozenset(
    "said says say asked asks replied replies answered shouted shouts yelled cried called whispered whispers "
    "muttered murmured added exclaimed screamed sighed laughed told began continued explained insisted snapped "
    "demanded pleaded wondered admitted agreed remarked repeated hissed groaned gasped breathed".split()
)


class Break(IntEnum):
    """How strongly the text separates two neighbouring atoms."""

    NONE = 0
    COMMA = 1
    SENTENCE = 2
    PARAGRAPH = 3


PAUSE_SECONDS = {Break.NONE: 0.0, Break.COMMA: 0.07, Break.SENTENCE: 0.3, Break.PARAGRAPH: 0.3}


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
    quoted: list[bool] = field(default_factory=list)  # quoted[k]: breaks[k] lies inside a quotation

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


def atom_seconds(atom: Atom) -> float:
    """How long the preview speech takes to say one atom, pauses around it not included."""
    if is_cjk(atom.core[0]):
        return CJK_SECONDS
    per_word = _DIGITS_PER_WORD if atom.core[0].isdigit() else _LETTERS_PER_WORD
    return WORD_SECONDS * max(1.0, len(atom.core) / per_word)


def speaking_seconds(text: str) -> float:
    """An estimate of how long the preview speech takes to say ``text`` at its normal speed."""
    tokens = tokenize(text)
    return sum(map(atom_seconds, tokens.atoms)) + sum(PAUSE_SECONDS[strength] for strength in tokens.breaks)


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
    depths = _quote_depths(text, ends[:-1])
    breaks = [_break_after(text, cores, k, ends[k], depths[k] > 0) for k in range(len(cores) - 1)]
    return Tokens(text, atoms, breaks, [depth > 0 for depth in depths])


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


def _break_after(text: str, cores: list[tuple[int, int, str]], k: int, gap_end: int, in_quote: bool) -> Break:
    gap = text[cores[k][1] : gap_end]
    next_core = cores[k + 1][2]
    soft_wrap = gap.count("\n") == 1 and next_core[0].islower() and not (set(gap) & _STRONG_TERMINATORS)
    if "\n" in gap and not soft_wrap:
        return Break.PARAGRAPH
    closes_quote = _quote_closes_after_terminator(gap)
    period = _ends_sentence_with_period(gap, cores[k][2], next_core, closes_quote)
    if set(gap) & _STRONG_TERMINATORS or "..." in gap or period:
        if closes_quote and not _opens(text, gap_end) and _attribution_follows(text, cores, k + 1):
            return Break.COMMA  # not when another quotation follows: “你好。”“我叫小川。”
        if in_quote and not set(gap.replace("...", "")) & _FULL_STOPS:
            return Break.COMMA  # “我……我没有钱。” — a pause inside the quotation
        return Break.SENTENCE
    if set(gap) & _COMMAS:
        return Break.COMMA
    return Break.NONE


def _quote_depths(text: str, positions: list[int]) -> list[int]:
    """How many quotations are open at each of the ascending ``positions``; a line break closes them all."""
    depths, depth, scanned = [], 0, 0
    for position in positions:
        for index in range(scanned, position):
            char = text[index]
            if char == "\n":
                depth = 0
            elif char in _PAIRED_OPENING_QUOTES or (char == '"' and _opens(text, index)):
                depth += 1
            elif char in _PAIRED_CLOSING_QUOTES or char == '"':
                depth = max(0, depth - 1)
        scanned = position
        depths.append(depth)
    return depths


def _quote_closes_after_terminator(gap: str) -> bool:
    """Whether a closing quote follows the gap's last sentence mark: 吗？” / "Stop!" / know."."""
    marks = [index for index, char in enumerate(gap) if char in _STRONG_TERMINATORS or char == "."]
    return bool(marks) and any(char in _CLOSING_QUOTES for char in gap[marks[-1] + 1 :])


def _attribution_follows(text: str, cores: list[tuple[int, int, str]], first: int) -> bool:
    """Whether the words after a closed quotation say who spoke it (她问道 / she asked / Tom said),
    or simply go on in lower case ("Stop!" and left)."""
    clause = []
    for index in range(first, len(cores)):
        clause.append(cores[index][2])
        gap = text[cores[index][1] : cores[index + 1][0]] if index + 1 < len(cores) else "。"
        if gap.strip() or len(clause) > _ZH_ATTRIBUTION_CHARS:
            break
    if is_cjk(clause[0][0]):
        if len(clause) > _ZH_ATTRIBUTION_CHARS or not all(is_cjk(core[0]) for core in clause):
            return False
        said = "".join(clause)
        verb = _ZH_SPEECH_VERB.search(said)
        return verb is not None and not _ZH_NEGATION.search(said, 0, verb.start())
    if clause[0][0].islower():
        return True
    return any(word.lower() in EN_SPEECH_VERBS for word in clause[:_EN_ATTRIBUTION_WORDS])


def _ends_sentence_with_period(gap: str, word: str, next_core: str, quoted: bool) -> bool:
    if "." not in gap:
        return False
    if quoted:
        return True
    after = gap[gap.index(".") + 1 :]
    followed_by_space = any(ch.isspace() for ch in after) or is_cjk(next_core[0])
    is_initial = len(word) == 1 and word.isupper()
    return followed_by_space and word.lower() not in ABBREVIATIONS and not is_initial and not next_core[0].islower()


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
