"""Subtitle cues for a narration, and the ASS/SRT files that carry them.

Cues are cut at punctuation (Chinese and Latin), packed up to ``max_chars`` characters, and timed
in proportion to their length. Lines are wrapped here (``\\N`` in ASS) because libass does not wrap
Chinese text, which has no spaces.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from story2video.media.fontnames import ass_font_name
from story2video.media.fonts import FontInfo

# Marks after which a cue may end. Latin marks count only when a space or the end follows
# ("3.14", "1,000" and "e.g.x" stay whole).
_CJK_BREAKS = "。！？；，、：…"
_LATIN_BREAKS = ".!?;:,"
_CLOSERS = "」』”’）)]\"'》〉"
# Line-breaking rules (kinsoku): marks that may not start a line, and openers that may not end one.
_NO_LINE_START = "，。、；：！？…）」』”’》〉,.;:!?)]}"
_NO_LINE_END = "（「『“‘《〈([{"
# Pause marks dropped at the end of a cue, as Chinese subtitles do; ？！ and Latin marks stay.
_TRAILING_DROPPED = "，。、；："
# Full-width scripts: CJK symbols, punctuation, kana and ideographs; Hangul; compatibility
# ideographs; full-width forms. Each character is one em wide and may start a new line.
_WIDE = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
_CJK_RE = re.compile(f"[{_WIDE}]")
_TOKEN_RE = re.compile(f"\\s+|[{_WIDE}]|[^\\s{_WIDE}]+")  # spaces | one wide character | a Latin word

FONT_SIZE_RATIO = 0.062  # of the frame's short side
BOX_PADDING_RATIO = 0.22  # padding of the translucent box behind the text, relative to the font size
LATIN_WIDTH_EM = 0.55  # average advance of a Latin glyph relative to the font size
Measure = Callable[[str], float]


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float
    text: str


# ------------------------------------------------------------------ cutting a narration


def split_narration(text: str, start: float, end: float, max_chars: int) -> list[Cue]:
    """Cues covering [start, end] back to back, each at most ``max_chars`` characters long."""
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    if end < start:
        raise ValueError("a cue range cannot end before it starts")
    pieces = _pack(_clauses(" ".join(text.split())), max_chars)
    texts = [_tidy(piece) for piece in pieces]
    texts = [text for text in texts if text]
    return _timed(texts, start, end)


def _clauses(text: str) -> list[str]:
    """Split after break marks, keeping each mark (and any closing quote) with its clause."""
    clauses: list[str] = []
    current = ""
    index = 0
    while index < len(text):
        current += text[index]
        index += 1
        if _breaks_after(text, index):
            while index < len(text) and (text[index] in _CLOSERS or _is_break_mark(text[index])):
                current += text[index]
                index += 1
            clauses.append(current.strip())
            current = ""
    if current.strip():
        clauses.append(current.strip())
    return [clause for clause in clauses if clause]


def _is_break_mark(char: str) -> bool:
    return char in _CJK_BREAKS or char in _LATIN_BREAKS


def _breaks_after(text: str, index: int) -> bool:
    """Whether a clause may end after ``text[index - 1]``."""
    char = text[index - 1]
    if char in _CJK_BREAKS:
        return True
    if char in _LATIN_BREAKS:
        rest = text[index:].lstrip(_CLOSERS + _LATIN_BREAKS)
        return not rest or rest[0].isspace() or bool(_CJK_RE.match(rest[0]))
    return False


def _pack(clauses: list[str], max_chars: int) -> list[str]:
    """Join neighbouring clauses while they fit; split the clauses that are too long alone."""
    pieces: list[str] = []
    for clause in clauses:
        for part in wrap_text(clause, max_chars):
            joined = _join(pieces[-1], part) if pieces else part
            if pieces and len(joined) <= max_chars:
                pieces[-1] = joined
            else:
                pieces.append(part)
    return pieces


def _join(left: str, right: str) -> str:
    """No space between Chinese text, one space where either side is Latin."""
    if _CJK_RE.match(left[-1]) and _CJK_RE.match(right[0]):
        return left + right
    return f"{left} {right}"


def _tidy(text: str) -> str:
    return text.strip().rstrip(_TRAILING_DROPPED).strip()


def _timed(texts: list[str], start: float, end: float) -> list[Cue]:
    """Contiguous cues whose durations are proportional to their visible characters."""
    weights = [max(1, len(text.replace(" ", ""))) for text in texts]
    total = sum(weights)
    cues: list[Cue] = []
    elapsed = 0
    for text, weight in zip(texts, weights):
        cue_start = start + (end - start) * elapsed / total
        elapsed += weight
        cue_end = end if elapsed == total else start + (end - start) * elapsed / total
        cues.append(Cue(start=cue_start, end=cue_end, text=text))
    return cues


# ------------------------------------------------------------------ wrapping


def wrap_text(text: str, limit: float, measure: Measure = len) -> list[str]:
    """Balanced lines no wider than ``limit``: Chinese breaks anywhere, Latin at spaces."""
    text = " ".join(text.split())
    if not text:
        return []
    if measure(text) <= limit:
        return [text]
    greedy = _wrap_greedy(text, limit, measure)
    target = measure(text) / len(greedy)
    balanced = _wrap_greedy(text, max(target, min(limit, math.ceil(target))), measure)
    return balanced if len(balanced) <= len(greedy) else greedy


def _wrap_greedy(text: str, limit: float, measure: Measure) -> list[str]:
    lines: list[str] = []
    line = ""
    for token in _tokens(text, limit, measure):
        if token.isspace():
            line = f"{line} " if line else line
            continue
        if line and measure((line + token).strip()) > limit:
            lines.append(line.strip())
            line = ""
        line += token
    if line.strip():
        lines.append(line.strip())
    return lines


def _tokens(text: str, limit: float, measure: Measure) -> list[str]:
    """Unbreakable pieces: Chinese characters one by one, Latin words whole (hard-split when wider
    than a line); punctuation stays with its neighbour so no line starts with "，" or ends with "「"."""
    tokens: list[str] = []
    for token in _TOKEN_RE.findall(text):
        while not token.isspace() and measure(token) > limit and len(token) > 1:
            cut = _fitting_prefix(token, limit, measure)
            tokens.append(token[:cut])
            token = token[cut:]
        tokens.append(token)
    return _glue_punctuation(tokens)


def _glue_punctuation(tokens: list[str]) -> list[str]:
    glued: list[str] = []
    for token in tokens:
        follows_text = bool(glued) and not glued[-1].isspace() and not token.isspace()
        if follows_text and (token[0] in _NO_LINE_START or glued[-1][-1] in _NO_LINE_END):
            glued[-1] += token
        else:
            glued.append(token)
    return glued


def _fitting_prefix(token: str, limit: float, measure: Measure) -> int:
    cut = 1
    while cut < len(token) and measure(token[: cut + 1]) <= limit:
        cut += 1
    return cut


def visual_width(text: str) -> float:
    """Width in ems: a Chinese character is one em, Latin glyphs about half."""
    return sum(1.0 if _CJK_RE.match(char) else LATIN_WIDTH_EM for char in text)


# ------------------------------------------------------------------ files


def subtitle_line_limit(width: int, height: int) -> float:
    """How many ems fit on one subtitle line of a frame this size."""
    font_size = _font_size(width, height)
    return (width - 2 * round(width * 0.06)) / font_size


def _font_size(width: int, height: int) -> int:
    return max(8, round(min(width, height) * FONT_SIZE_RATIO))


def write_ass(cues: list[Cue], path: Path, *, font: FontInfo, width: int, height: int) -> None:
    """An ASS script sized to the frame: white text on a translucent dark box, bottom centre.

    The box (BorderStyle 3) keeps subtitles readable over any picture, including text in it.
    """
    font_size = _font_size(width, height)
    margin_h = round(width * 0.06)
    margin_v = round(height * 0.05)
    padding = max(1.0, round(font_size * BOX_PADDING_RATIO, 1))
    header = [
        "[Script Info]",
        "ScriptType: v4.00+",
        f"PlayResX: {width}",
        f"PlayResY: {height}",
        "WrapStyle: 2",
        "ScaledBorderAndShadow: yes",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
        "Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
        "Alignment, MarginL, MarginR, MarginV, Encoding",
        f"Style: Default,{ass_font_name(font)},{font_size},&H00FFFFFF,&H00FFFFFF,&H48101010,&H48101010,"
        f"0,0,0,0,100,100,0,0,3,{padding:g},0,2,{margin_h},{margin_h},{margin_v},1",
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    line_limit = subtitle_line_limit(width, height)
    events = [
        f"Dialogue: 0,{_ass_time(cue.start)},{_ass_time(cue.end)},Default,,0,0,0,,{_ass_text(cue.text, line_limit)}"
        for cue in cues
    ]
    path.write_text("\n".join(header + events) + "\n", encoding="utf-8")


def _ass_text(text: str, line_limit: float) -> str:
    lines = wrap_text(text, line_limit, visual_width)
    return r"\N".join(escape_ass(line) for line in lines)


def escape_ass(text: str) -> str:
    """Show ``{`` ``}`` ``\\`` literally instead of as override blocks or escapes."""
    text = text.replace("\\", "\\\u2060")  # a word joiner stops "\N", "\h", "\{" from forming
    return text.replace("{", r"\{").replace("}", r"\}")


def _ass_time(seconds: float) -> str:
    centis = max(0, round(seconds * 100))
    hours, rest = divmod(centis, 360000)
    minutes, rest = divmod(rest, 6000)
    secs, centis = divmod(rest, 100)
    return f"{hours}:{minutes:02d}:{secs:02d}.{centis:02d}"


def write_srt(cues: list[Cue], path: Path) -> None:
    """A UTF-8 SubRip file."""
    blocks = [
        f"{number}\n{_srt_time(cue.start)} --> {_srt_time(cue.end)}\n{cue.text}\n"
        for number, cue in enumerate(cues, start=1)
    ]
    path.write_text("\n".join(blocks), encoding="utf-8")


def _srt_time(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"
