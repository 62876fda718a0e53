"""Subtitle cues for a narration, laid out for one frame, and the ASS/SRT files that carry them.

Lines are broken here (``\\N`` in ASS, with libass's own wrapping off) because libass does not wrap
Chinese text, which has no spaces. Widths are measured with the font file libass draws with
(``AssTextMeasure``), so a line really spans up to ``MAX_LINE_SHARE`` of the frame; breaks follow
``linebreak`` (balanced lines, punctuation first, never after "Mrs.").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from story2video.media.fontmetrics import AssTextMeasure
from story2video.media.fontnames import ass_font_name
from story2video.media.fonts import FontInfo
from story2video.media.linebreak import LineRule, Run, balanced_lines, cue_spans, normalise, pieces

FONT_SIZE_RATIO = 0.075  # the ASS font size (one line's height) as a share of the frame's short side
MAX_LINE_SHARE = 0.88  # a line spans at most this share of the frame's width...
MAX_WIDE_CHARS = 20  # ...and holds at most this many Chinese characters
LINES_PER_CUE = 2
MARGIN_V_RATIO = 0.05  # from the bottom edge to the last line, as a share of the frame's height
BOX_PADDING_RATIO = 0.22  # padding of the translucent box behind the text, relative to the font size
# Pause marks dropped at the end of a cue, as Chinese subtitles do; ？！ and Latin marks stay.
_TRAILING_DROPPED = "，。、；："


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float
    text: str
    lines: tuple[str, ...] = ()  # as shown on screen; empty: laid out when the file is written
    colour: str = ""  # "RRGGBB" the burned-in text is drawn in; "" = white
    label: str = ""  # the speaker's name prefix the SRT adds where the picture shows a colour instead


# (text, start, end) of one spoken word, in seconds on the same clock as the cues
TimedWord = tuple[str, float, float]


@dataclass(frozen=True)
class SubtitleFrame:
    """Where and how large subtitles are drawn on a ``width`` x ``height`` frame."""

    width: int
    height: int

    @property
    def font_size(self) -> int:
        return max(8, round(min(self.width, self.height) * FONT_SIZE_RATIO))

    @property
    def margin_h(self) -> int:
        return math.ceil((self.width - self.line_width) / 2)

    @property
    def margin_v(self) -> int:
        return round(self.height * MARGIN_V_RATIO)

    @property
    def padding(self) -> float:
        return max(1.0, round(self.font_size * BOX_PADDING_RATIO, 1))

    @property
    def line_width(self) -> int:
        return math.floor(self.width * MAX_LINE_SHARE)

    @property
    def band_top(self) -> int:
        """The highest row a cue's box reaches (a full cue of ``LINES_PER_CUE`` lines)."""
        return self.height - self.margin_v - LINES_PER_CUE * self.font_size - math.ceil(self.padding)

    def line_rule(self, font: FontInfo) -> LineRule:
        return LineRule(AssTextMeasure(font, self.font_size), self.line_width, MAX_WIDE_CHARS)


def subtitle_band_top(width: int, height: int) -> int:
    """The highest row burned-in subtitles reach on a frame this size: keep other text above it."""
    return SubtitleFrame(width, height).band_top


# ------------------------------------------------------------------ cutting a narration


def split_narration(text: str, start: float, end: float, rule: LineRule, max_lines: int = LINES_PER_CUE) -> list[Cue]:
    """Cues covering [start, end] back to back, each at most ``max_lines`` lines of ``rule``."""
    if end < start:
        raise ValueError("a cue range cannot end before it starts")
    return _timed(_laid_out(text, rule, max_lines), start, end)


def split_spoken(
    text: str, words: list[TimedWord], start: float, end: float, rule: LineRule, *, skip: int = 0, max_lines: int = LINES_PER_CUE
) -> tuple[list[Cue], bool]:
    """Cues timed by the speech: each starts at its first word's start and ends at the next cue's start,
    the last at its last word's end. ``skip``: characters at the start of ``normalise(text)`` that are
    not spoken (a speaker's name prefix). Where the words cannot be matched to every cue, the cues are
    spread over [start, end] in proportion to their length; the flag says whether words were used."""
    if end < start:
        raise ValueError("a cue range cannot end before it starts")
    laid_out = _laid_out(text, rule, max_lines)
    firsts = _cue_words(normalise(text), [cue_text for cue_text, _ in laid_out], words, skip)
    if not laid_out or any(first is None for first in firsts):
        return _timed(laid_out, start, end), False
    cues = []
    for index, ((cue_text, lines), first) in enumerate(zip(laid_out, firsts)):
        cue_start = words[first][1]
        if index + 1 < len(firsts):
            cue_end = words[firsts[index + 1]][1]
        else:
            cue_end = max(max(word[2] for word in words[first:]), cue_start)
        cues.append(Cue(start=cue_start, end=cue_end, text=cue_text, lines=lines))
    return cues, True


def _laid_out(text: str, rule: LineRule, max_lines: int) -> list[tuple[str, tuple[str, ...]]]:
    if max_lines < 1:
        raise ValueError("max_lines must be at least 1")
    run = Run(pieces(text), rule)
    laid_out = []
    for first, stop in cue_spans(run, max_lines):
        lines = _tidy(balanced_lines(run, first, stop))
        if lines:
            laid_out.append((run.text(first, stop).rstrip(_TRAILING_DROPPED), tuple(lines)))
    return laid_out


def _cue_words(text: str, cue_texts: list[str], words: list[TimedWord], skip: int) -> list[int | None]:
    """For each cue, the index of the first word spoken in it (None: no word of it was found).
    Cues and words are found in ``text`` in order; a word that cannot be found is passed over."""
    folded = text.casefold()
    bounds, cursor = [], 0
    for cue_text in cue_texts:
        at = folded.find(cue_text.casefold(), cursor)
        if at < 0:
            return [None] * len(cue_texts)
        bounds.append(at)
        cursor = at + len(cue_text)
    firsts: list[int | None] = [None] * len(cue_texts)
    cursor = skip
    for index, (word, _, _) in enumerate(words):
        at = folded.find(word.casefold(), cursor)
        if at < 0:
            continue
        cursor = at + len(word)
        cue = max(number for number, bound in enumerate(bounds) if bound <= at) if at >= bounds[0] else 0
        if firsts[cue] is None:
            firsts[cue] = index
    return firsts


def _tidy(lines: list[str]) -> list[str]:
    """Lines without the cue's trailing pause mark; a cue of punctuation alone has none."""
    if lines:
        lines[-1] = lines[-1].rstrip(_TRAILING_DROPPED)
    lines = [line for line in lines if line]
    return lines if any(char.isalnum() for line in lines for char in line) else []


def _timed(laid_out: list[tuple[str, tuple[str, ...]]], start: float, end: float) -> list[Cue]:
    """Contiguous cues whose durations are proportional to their visible characters."""
    weights = [max(1, len(text.replace(" ", ""))) for text, _ in laid_out]
    total = sum(weights)
    cues: list[Cue] = []
    elapsed = 0
    for (text, lines), weight in zip(laid_out, weights):
        cue_start = start + (end - start) * elapsed / total
        elapsed += weight
        cue_end = end if elapsed == total else start + (end - start) * elapsed / total
        cues.append(Cue(start=cue_start, end=cue_end, text=text, lines=lines))
    return cues


# ------------------------------------------------------------------ files


def write_ass(cues: list[Cue], path: Path, *, font: FontInfo, width: int, height: int) -> None:
    """An ASS script sized to the frame: white text on a translucent dark box, bottom centre.

    The box (BorderStyle 3) keeps subtitles readable over any picture, including text in it.
    Cues without ``lines`` are laid out here, on as many lines as they need.
    """
    frame = SubtitleFrame(width, height)
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
        f"Style: Default,{ass_font_name(font)},{frame.font_size},&H00FFFFFF,&H00FFFFFF,&H48101010,&H48101010,"
        f"0,0,0,0,100,100,0,0,3,{frame.padding:g},0,2,{frame.margin_h},{frame.margin_h},{frame.margin_v},1",
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    rule = frame.line_rule(font) if any(not cue.lines for cue in cues) else None
    events = [
        f"Dialogue: 0,{_ass_time(cue.start)},{_ass_time(cue.end)},Default,,0,0,0,,"
        + (f"{{\\c{ass_colour(cue.colour)}}}" if cue.colour else "")
        + r"\N".join(escape_ass(line) for line in (cue.lines or balanced_lines(Run(pieces(cue.text), rule))))
        for cue in cues
    ]
    path.write_text("\n".join(header + events) + "\n", encoding="utf-8")


def escape_ass(text: str) -> str:
    """Show ``{`` ``}`` ``\\`` literally instead of as override blocks or escapes."""
    text = text.replace("\\", "\\\u2060")  # a word joiner stops "\N", "\h", "\{" from forming
    return text.replace("{", r"\{").replace("}", r"\}")


def ass_colour(rgb: str) -> str:
    """"RRGGBB" as an ASS colour (&HBBGGRR&)."""
    if len(rgb) != 6 or any(char not in "0123456789abcdefABCDEF" for char in rgb):
        raise ValueError(f"a subtitle colour is 6 hex digits RRGGBB, got {rgb!r}")
    return f"&H{rgb[4:6]}{rgb[2:4]}{rgb[0:2]}&".upper()


def _ass_time(seconds: float) -> str:
    centis = max(0, round(seconds * 100))
    hours, rest = divmod(centis, 360000)
    minutes, rest = divmod(rest, 6000)
    secs, centis = divmod(rest, 100)
    return f"{hours}:{minutes:02d}:{secs:02d}.{centis:02d}"


def write_srt(cues: list[Cue], path: Path) -> None:
    """A UTF-8 SubRip file; each cue on the lines it was shown on."""
    blocks = [
        f"{number}\n{_srt_time(cue.start)} --> {_srt_time(cue.end)}\n" + "\n".join(_srt_lines(cue)) + "\n"
        for number, cue in enumerate(cues, start=1)
    ]
    path.write_text("\n".join(blocks), encoding="utf-8")


def _srt_lines(cue: Cue) -> list[str]:
    lines = list(cue.lines or (cue.text,))
    if cue.label:
        lines[0] = cue.label + lines[0]
    return lines


def _srt_time(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"
