"""Title cards as keyframes: a style-coloured abstract background that differs strongly per shot,
with the shot's subject, a caption from its detail and (without subtitles) its narration drawn on a
translucent panel.

A card is drawn for one frame: every piece of text lies where the Ken Burns move never crops it
(``text_area``, from the move's own geometry in ``media.motion``), and with burned-in subtitles
the narration is left to them and the panel kept above their band during the whole move.
"""

from __future__ import annotations

import asyncio
import colorsys
import hashlib
import math
import random
import re
import threading
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from story2video.errors import BackendUnavailable, ConfigurationError, InvalidRequest
from story2video.media.fonts import FontInfo, resolve_cjk_font
from story2video.media.linebreak import LineRule, Run, balanced_lines, pieces
from story2video.media.motion import Box, seen_throughout, source_reach
from story2video.media.subtitles import subtitle_band_top
from story2video.providers.base import BackendStatus, ImageRequest, StageContext
from story2video.providers.preview.clip import MOVE_ZOOM
from story2video.providers.preview.text import ellipsize
from story2video.turns import turns

MIN_SIDE, MAX_SIDE = 16, 4096
_BACKGROUND_LONG_SIDE = 320  # the abstract background is painted small and scaled up: soft and fast
# Steps per shot index for hue (golden ratio), gradient direction and brightness; chosen (by search
# over the first ten shots) so that shots close in one are far apart in another.
_HUE_STEP, _ANGLE_STEP, _LIGHTNESS_STEP = 0.6180339887, 0.1, 0.55
_SUPERSAMPLE = 3
_PANEL_ALPHA = 115
# The panel never grows above this share of the height, so the picture stays visible; it may grow
# further when it carries the narration (no subtitles).
PANEL_MAX_SHARE, NARRATED_PANEL_MAX_SHARE = 0.36, 0.52
_AREA_INSET = 0.015  # of the short side: room between the text and the edge of what a move shows
# A caption is the detail cut at these marks, less the clauses that repeat text already on screen.
_CLAUSE_RE = re.compile(r"[^，。！？；：、,.!?;:]*[，。！？；：、,.!?;:]+\s*|[^，。！？；：、,.!?;:]+$")
_CAPTION_TRIM = "，。；：、,.;: "
_STYLE_WORDS = {"", "风格", "style"}
_MOTIF_ALPHA = 180
_FONT_LOCK = threading.Lock()  # FreeType faces are shared between threads through the font cache

HLS = tuple[float, float, float]  # hue 0..1, lightness 0..1, saturation 0..1
RGB = tuple[int, int, int]
_TITLE_COLOUR: RGB = (255, 255, 255)
_BODY_COLOUR: RGB = (236, 236, 240)
_CAPTION_COLOUR: RGB = (214, 224, 240)


@dataclass(frozen=True)
class Palette:
    dark: HLS
    light: HLS
    accent: HLS
    hue_span: float  # how far (as a share of the colour wheel) shots of one story wander in hue
    lightness_swing: float = 0.22  # how far they wander in brightness; more where hue shows little


_STYLE_PALETTES: tuple[tuple[tuple[str, ...], Palette], ...] = (
    (("赛博朋克", "cyberpunk"), Palette((0.78, 0.10, 0.75), (0.52, 0.50, 0.95), (0.90, 0.58, 1.00), 0.6)),
    (("水墨", "ink"), Palette((0.58, 0.14, 0.10), (0.12, 0.86, 0.22), (0.00, 0.24, 0.05), 1.0, 0.38)),
    (("油画", "oil"), Palette((0.02, 0.16, 0.60), (0.11, 0.64, 0.72), (0.58, 0.42, 0.60), 0.8)),
    (("童话", "fairy"), Palette((0.75, 0.40, 0.50), (0.14, 0.84, 0.85), (0.92, 0.62, 0.85), 1.0)),
    (
        ("动漫", "动画", "anime", "manga", "cartoon"),
        Palette((0.62, 0.32, 0.78), (0.50, 0.78, 0.85), (0.98, 0.60, 0.92), 1.0),
    ),
    (
        ("写实", "realistic", "photo", "cinematic", "电影"),
        Palette((0.60, 0.13, 0.42), (0.10, 0.68, 0.55), (0.07, 0.50, 0.80), 1.0),
    ),
)


class TitleCardPainter:
    backend = "preview"
    model = "title-card-v2"
    # A card lays its text out for one frame and costs next to nothing to draw: a render at another
    # size or subtitle setting asks for a card of its own (``pipeline.keyframes.keyframe_for_frame``).
    redraw_per_frame = True

    def __init__(self, font: FontInfo | None = None):
        self._font = font

    async def generate(self, request: ImageRequest, dest: Path, ctx: StageContext) -> None:
        _validate(request)
        if request.portrait and request.characters:  # the card's caption shows the look it stands for
            request = replace(request, prompt=request.characters[0].appearance)
        font = await asyncio.to_thread(self._font_info)
        ctx.raise_if_cancelled()
        card = await turns.in_thread(ctx, paint_background, request)
        ctx.progress(0.4)
        ctx.raise_if_cancelled()
        await turns.in_thread(ctx, _draw_text, card, request, font.path)
        ctx.progress(0.8)
        ctx.raise_if_cancelled()
        await turns.in_thread(ctx, partial(card.save, dest, format="PNG"))
        ctx.progress(1.0)

    async def status(self) -> BackendStatus:
        def check() -> tuple[bool, str]:
            font = self._font_info()
            if not draws_cjk(font.path):
                return False, f"font {font.path} cannot draw Chinese characters"
            return True, f"Pillow title cards, font {font.family} ({font.path.name})"

        try:
            ready, detail = await asyncio.to_thread(check)
        except BackendUnavailable as exc:
            ready, detail = False, exc.message
        return BackendStatus(stage="keyframes", backend=self.backend, model=self.model, ready=ready, detail=detail)

    def _font_info(self) -> FontInfo:
        if self._font is None:
            try:
                self._font = resolve_cjk_font()
            except ConfigurationError as exc:
                raise BackendUnavailable(exc.message, stage="keyframes", backend=self.backend) from exc
        return self._font


def _validate(request: ImageRequest) -> None:
    for name in ("width", "height"):
        value = getattr(request, name)
        if not MIN_SIDE <= value <= MAX_SIDE:
            raise InvalidRequest(f"{name} must be between {MIN_SIDE} and {MAX_SIDE} pixels, got {value}", param=name)


def draws_cjk(font_path: Path) -> bool:
    with _FONT_LOCK:
        font = _load_font(str(font_path), 32)
        masks = [font.getmask(char) for char in "中文"]
        return all(mask.getbbox() for mask in masks) and bytes(masks[0]) != bytes(masks[1])


# ---------------------------------------------------------------- background


def style_palette(style: str) -> Palette:
    lowered = style.strip().lower()
    for names, palette in _STYLE_PALETTES:
        if any(name in lowered for name in names):
            return palette
    return _hashed_palette(lowered)


def _hashed_palette(style: str) -> Palette:
    digest = hashlib.sha256(style.encode("utf-8")).digest()
    hue, saturation = digest[0] / 255, 0.35 + 0.45 * digest[1] / 255
    return Palette(
        dark=(hue, 0.16 + 0.10 * digest[2] / 255, saturation),
        light=((hue + 0.12) % 1.0, 0.62 + 0.2 * digest[3] / 255, saturation),
        accent=((hue + 0.5) % 1.0, 0.55, min(1.0, saturation + 0.2)),
        hue_span=0.4 + 0.6 * digest[4] / 255,
    )


def paint_background(request: ImageRequest) -> Image.Image:
    """A bold gradient plus a large motif. The shot index steps hue, gradient direction and
    brightness; the seed and the detail pick the motif, so re-seeding a shot or changing its detail
    changes it too."""
    palette = style_palette(request.style)
    shift = _ShotShift(
        hue=_centred(request.shot_index * _HUE_STEP) * palette.hue_span,
        lightness=_centred(request.shot_index * _LIGHTNESS_STEP) * palette.lightness_swing,
    )
    rng = random.Random(f"{request.style}|{request.seed}|{request.shot_index}|{request.prompt}")
    scale = min(1.0, _BACKGROUND_LONG_SIDE / max(request.width, request.height))
    size = (max(8, round(request.width * scale)), max(8, round(request.height * scale)))
    angle = (request.shot_index * _ANGLE_STEP * 360 + rng.uniform(-20, 20)) % 360
    small = Image.composite(
        Image.new("RGB", size, shift.apply(palette.light)),
        Image.new("RGB", size, shift.apply(palette.dark)),
        _gradient_mask(size, angle),
    ).convert("RGBA")
    small.alpha_composite(_motif(size, rng, shift.apply(palette.accent), shift.apply(palette.light)))
    return small.convert("RGB").resize((request.width, request.height), Image.Resampling.BICUBIC)


def _centred(value: float) -> float:
    """The fractional part of ``value`` moved to -0.5..0.5."""
    return value % 1.0 - 0.5


@dataclass(frozen=True)
class _ShotShift:
    hue: float
    lightness: float

    def apply(self, colour: HLS) -> RGB:
        hue, lightness, saturation = colour
        lightness = min(0.95, max(0.05, lightness + self.lightness))
        red, green, blue = colorsys.hls_to_rgb((hue + self.hue) % 1.0, lightness, saturation)
        return round(red * 255), round(green * 255), round(blue * 255)


def _gradient_mask(size: tuple[int, int], angle: float) -> Image.Image:
    width, height = size
    side = math.ceil(math.hypot(width, height)) + 2
    ramp = Image.linear_gradient("L").resize((side, side), Image.Resampling.BILINEAR)
    ramp = ramp.rotate(angle, resample=Image.Resampling.BICUBIC)
    left, top = (side - width) // 2, (side - height) // 2
    return ramp.crop((left, top, left + width, top + height))


def _motif(size: tuple[int, int], rng: random.Random, accent: RGB, light: RGB) -> Image.Image:
    """One large shape plus a few faint discs, drawn supersampled so edges stay smooth when scaled up."""
    width, height = size[0] * _SUPERSAMPLE, size[1] * _SUPERSAMPLE
    short = min(width, height)
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    centre = (width * rng.uniform(0.18, 0.82), height * rng.uniform(0.15, 0.6))
    radius = short * rng.uniform(0.28, 0.45)
    shape = rng.choice(("disc", "ring", "triangle", "band", "arcs"))
    _draw_shape(draw, shape, centre, radius, rng.uniform(0, 2 * math.pi), (*accent, _MOTIF_ALPHA))
    for _ in range(3):
        x, y, r = width * rng.random(), height * rng.random(), short * rng.uniform(0.05, 0.12)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(*light, 70))
    return layer.resize(size, Image.Resampling.LANCZOS)


def _draw_shape(
    draw: ImageDraw.ImageDraw,
    shape: str,
    centre: tuple[float, float],
    radius: float,
    turn: float,
    fill: tuple[int, ...],
) -> None:
    x, y = centre
    box = (x - radius, y - radius, x + radius, y + radius)
    if shape == "disc":
        draw.ellipse(box, fill=fill)
    elif shape == "ring":
        draw.ellipse(box, outline=fill, width=max(2, round(radius * 0.35)))
    elif shape == "arcs":
        for step in range(3):
            inset = radius * step * 0.33
            draw.ellipse(
                (box[0] + inset, box[1] + inset, box[2] - inset, box[3] - inset),
                outline=fill,
                width=max(1, round(radius * 0.12)),
            )
    elif shape == "triangle":
        corners = [turn + k * 2 * math.pi / 3 for k in range(3)]
        draw.polygon([(x + 1.3 * radius * math.cos(a), y + 1.3 * radius * math.sin(a)) for a in corners], fill=fill)
    else:  # a broad band through the centre
        dx, dy = math.cos(turn), math.sin(turn)
        reach, half = radius * 6, radius * 0.45
        draw.polygon(
            [
                (x - dx * reach - dy * half, y - dy * reach + dx * half),
                (x + dx * reach - dy * half, y + dy * reach + dx * half),
                (x + dx * reach + dy * half, y + dy * reach - dx * half),
                (x - dx * reach + dy * half, y - dy * reach - dx * half),
            ],
            fill=fill,
        )


# ---------------------------------------------------------------- text


def text_area(width: int, height: int, subtitled: bool) -> tuple[int, int, int, int]:
    """Where a card may draw (left, top, right, bottom in pixels): inside what every frame of every
    camera move shows, and, when subtitles are burned in, above every row that a move carries under
    their band."""
    safe = seen_throughout(MOVE_ZOOM)
    bottom = safe.bottom
    if subtitled:
        band = Box(0.0, subtitle_band_top(width, height) / height, 1.0, 1.0)
        bottom = min(bottom, source_reach(band, MOVE_ZOOM).top)
    inset = max(1, round(min(width, height) * _AREA_INSET))
    return (
        math.ceil(safe.left * width) + inset,
        math.ceil(safe.top * height) + inset,
        math.floor(safe.right * width) - inset,
        math.floor(bottom * height) - inset,
    )


def caption(request: ImageRequest) -> str:
    """The shot's detail without the clauses that repeat what is on screen already (the subject,
    the narration, the style's name): a regenerate with a new detail shows in the picture."""
    shown = _comparable(f"{request.subject} {request.narration}")
    style = _comparable(request.style)
    kept = [clause for clause in _CLAUSE_RE.findall(request.prompt) if not _repeats(_comparable(clause), shown, style)]
    return "".join(kept).strip().strip(_CAPTION_TRIM)


def _comparable(text: str) -> str:
    return "".join(char for char in text.lower() if char.isalnum())


def _repeats(clause: str, shown: str, style: str) -> bool:
    """Whether a clause (letters and digits only) says nothing new: empty, already on screen, or
    only the style's name ("写实风格", "ink style")."""
    return clause in shown or (bool(style) and style in clause and clause.replace(style, "", 1) in _STYLE_WORDS)


@dataclass(frozen=True)
class _TextBlock:
    font: ImageFont.FreeTypeFont
    lines: list[str]
    line_height: int
    colour: RGB

    @property
    def height(self) -> int:
        return self.line_height * len(self.lines)


@dataclass(frozen=True)
class _Layout:
    padding: int
    gap: int  # between blocks
    text_width: int
    max_text_height: int
    short: int


def _draw_text(card: Image.Image, request: ImageRequest, font_path: Path) -> None:
    """"#NN" at the top left and a translucent panel at the bottom of the text area: the subject,
    the detail's caption, and the narration unless subtitles will show it."""
    left, top, right, bottom = text_area(card.width, card.height, request.subtitled)
    short = min(card.size)
    padding = max(2, round(short * 0.025))
    if right - left <= 4 * padding or bottom - top <= 4 * padding:
        return  # a thumbnail-sized card: no room for legible text
    with _FONT_LOCK:
        tag = "" if request.portrait else f"#{request.shot_index + 1:02d}"  # a portrait is no shot of the story
        tag_bottom = _paste_tag(card, tag, str(font_path), (left, top, right), padding) if tag else top
        max_share = PANEL_MAX_SHARE if request.subtitled else NARRATED_PANEL_MAX_SHARE
        panel_top = max(tag_bottom + padding, bottom - round(card.height * max_share))
        gap = max(1, round(short * 0.02))
        layout = _Layout(padding, gap, right - left - 2 * padding, bottom - panel_top - 2 * padding, short)
        blocks = _fit_blocks(request, str(font_path), layout)
        _paste_panel(card, blocks, layout, (left, bottom), right - left)


def _fit_blocks(request: ImageRequest, font_path: str, layout: _Layout) -> list[_TextBlock]:
    wanted = [
        (request.subject, 0.08, 0.7, 2, _TITLE_COLOUR),
        (caption(request), 0.036, 0.8, 2, _CAPTION_COLOUR),
        ("" if request.subtitled else request.narration, 0.045, 0.65, 8, _BODY_COLOUR),
    ]
    blocks: list[_TextBlock] = []
    room = layout.max_text_height
    for text, share, min_ratio, max_lines, colour in wanted:
        size = max(7, round(layout.short * share))
        block = _fit(text, font_path, size, min_ratio, layout.text_width, room, max_lines=max_lines, colour=colour)
        if block.lines:
            blocks.append(block)
            room -= block.height + layout.gap
    return blocks


def _fit(
    text: str, font_path: str, size: int, min_ratio: float, max_width: int, max_height: int, *, max_lines: int, colour: RGB
) -> _TextBlock:
    """Balanced lines of ``text`` at the largest size (down to ``min_ratio`` of ``size``) that fits;
    cut short with an ellipsis when even the smallest does not."""
    min_size = max(6, math.floor(size * min_ratio))
    while True:
        font = _load_font(font_path, size)
        line_height = round(size * 1.32)
        run = Run(pieces(text), LineRule(font.getlength, max_width, max_wide=10**6))
        room = min(max_lines, max_height // line_height)
        if run.greedy_lines(0, len(run), at_most=room) <= room or size <= min_size:
            break
        size = max(min_size, math.floor(size * 0.9))
    spans = run.greedy_spans(0, len(run))
    if len(spans) <= room:
        lines = balanced_lines(run)
    elif room > 0:
        rest = run.text(spans[room - 1][0], len(run))
        lines = [run.text(*span) for span in spans[: room - 1]] + [ellipsize(rest, font.getlength, max_width)]
    else:
        lines = []
    return _TextBlock(font, lines, line_height, colour)


def _paste_panel(
    card: Image.Image, blocks: list[_TextBlock], layout: _Layout, bottom_left: tuple[int, int], width: int
) -> None:
    if not blocks:
        return
    widest = max(math.ceil(block.font.getlength(line)) for block in blocks for line in block.lines)
    width = min(width, widest + 2 * layout.padding + max(1, round(blocks[0].line_height / 24)))  # + the shadow
    height = sum(block.height for block in blocks) + layout.gap * (len(blocks) - 1) + 2 * layout.padding
    panel = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    box = (0, 0, width - 1, height - 1)
    ImageDraw.Draw(panel).rounded_rectangle(box, radius=layout.padding, fill=(8, 8, 12, _PANEL_ALPHA))
    lines: list[_PlacedLine] = []
    y = layout.padding
    for block in blocks:
        for text in block.lines:
            lines.append(_PlacedLine(text, block.font, (layout.padding, y), block.colour))
            y += block.line_height
        y += layout.gap
    _draw_shadowed(panel, lines, shadow_offset=max(1, round(blocks[0].line_height / 24)))
    left, bottom = bottom_left
    card.paste(panel, (left, bottom - height), panel)


@dataclass(frozen=True)
class _PlacedLine:
    text: str
    font: ImageFont.FreeTypeFont
    xy: tuple[int, int]
    colour: RGB


def _draw_shadowed(layer: Image.Image, lines: list[_PlacedLine], shadow_offset: int) -> None:
    shadow = Image.new("RGBA", layer.size, (0, 0, 0, 0))
    shadow_draw = ImageDraw.Draw(shadow)
    for line in lines:
        x, y = line.xy
        shadow_draw.text((x + shadow_offset, y + shadow_offset), line.text, font=line.font, fill=(0, 0, 0, 210))
    layer.alpha_composite(shadow.filter(ImageFilter.GaussianBlur(shadow_offset)))
    draw = ImageDraw.Draw(layer)
    for line in lines:
        draw.text(line.xy, line.text, font=line.font, fill=(*line.colour, 255))


def _paste_tag(card: Image.Image, tag: str, font_path: str, area: tuple[int, int, int], padding: int) -> int:
    """The shot number at the area's top left; returns the row below it (the area's top when it does not fit)."""
    left, top, right = area
    font = _load_font(font_path, max(6, round(min(card.size) * 0.04)))
    box_left, box_top, box_right, box_bottom = font.getbbox(tag)
    pad = max(1, padding // 2)
    size = (box_right - box_left + 2 * pad, box_bottom - box_top + 2 * pad)
    if left + size[0] > right:
        return top
    badge = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(badge)
    draw.rounded_rectangle((0, 0, size[0] - 1, size[1] - 1), radius=pad, fill=(8, 8, 12, 130))
    draw.text((pad - box_left, pad - box_top), tag, font=font, fill=(255, 255, 255, 235))
    card.paste(badge, (left, top), badge)
    return top + size[1]


# Each face of an OpenType CJK font holds about 1 MiB of FreeType's parsed tables, so the cache is kept
# small: one resolution uses about fifteen sizes (three blocks fitted down in steps, the tag, the check).
FONT_FACES_KEPT = 24


@lru_cache(maxsize=FONT_FACES_KEPT)
def _load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)
