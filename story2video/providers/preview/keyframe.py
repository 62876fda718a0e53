"""Title cards as keyframes: a style-coloured abstract background that differs strongly per shot,
with the shot's subject and narration drawn on a translucent panel."""

from __future__ import annotations

import asyncio
import colorsys
import hashlib
import math
import random
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from story2video.errors import BackendUnavailable, ConfigurationError, InvalidRequest
from story2video.media.fonts import FontInfo, resolve_cjk_font
from story2video.providers.base import BackendStatus, ImageRequest, StageContext
from story2video.providers.preview.text import ellipsize, wrap

MIN_SIDE, MAX_SIDE = 16, 4096
_BACKGROUND_LONG_SIDE = 320  # the abstract background is painted small and scaled up: soft and fast
# Steps per shot index for hue (golden ratio), gradient direction and brightness; chosen (by search
# over the first ten shots) so that shots close in one are far apart in another.
_HUE_STEP, _ANGLE_STEP, _LIGHTNESS_STEP = 0.6180339887, 0.1, 0.55
_SUPERSAMPLE = 3
_PANEL_ALPHA = 115
# The bottom of the frame is kept free of text: burned-in subtitles go there.
SUBTITLE_SAFE_SHARE = 0.22
PANEL_MAX_SHARE = 0.36  # the panel never grows above 42 % of the height: the picture stays visible
_MOTIF_ALPHA = 180
_FONT_LOCK = threading.Lock()  # FreeType faces are shared between threads through the font cache

HLS = tuple[float, float, float]  # hue 0..1, lightness 0..1, saturation 0..1
RGB = tuple[int, int, int]
_TITLE_COLOUR: RGB = (255, 255, 255)
_BODY_COLOUR: RGB = (236, 236, 240)


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
    model = "title-card-v1"

    def __init__(self, font: FontInfo | None = None):
        self._font = font

    async def generate(self, request: ImageRequest, dest: Path, ctx: StageContext) -> None:
        _validate(request)
        font = await asyncio.to_thread(self._font_info)
        ctx.raise_if_cancelled()
        card = await asyncio.to_thread(_paint_background, request)
        ctx.progress(0.4)
        ctx.raise_if_cancelled()
        await asyncio.to_thread(_draw_text, card, request, font.path)
        ctx.progress(0.8)
        ctx.raise_if_cancelled()
        await asyncio.to_thread(card.save, dest, format="PNG")
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


def _paint_background(request: ImageRequest) -> Image.Image:
    """A bold gradient plus a large motif. The shot index steps hue, gradient direction and
    brightness; the seed picks the motif, so re-seeding a shot changes it too."""
    palette = style_palette(request.style)
    shift = _ShotShift(
        hue=_centred(request.shot_index * _HUE_STEP) * palette.hue_span,
        lightness=_centred(request.shot_index * _LIGHTNESS_STEP) * palette.lightness_swing,
    )
    rng = random.Random(f"{request.style}|{request.seed}|{request.shot_index}")
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


@dataclass(frozen=True)
class _TextBlock:
    font: ImageFont.FreeTypeFont
    lines: list[str]
    line_height: int

    @property
    def height(self) -> int:
        return self.line_height * len(self.lines)


@dataclass(frozen=True)
class _Layout:
    margin: int
    padding: int
    text_width: int
    max_text_height: int
    short: int


def _draw_text(card: Image.Image, request: ImageRequest, font_path: Path) -> None:
    """Subject and narration on a translucent panel just above the subtitle band, "#NN" at the top left."""
    width, height = card.size
    short = min(width, height)
    margin, padding = max(2, round(short * 0.05)), max(2, round(short * 0.03))
    max_height = round(height * PANEL_MAX_SHARE) - 2 * padding
    layout = _Layout(margin, padding, width - 2 * (margin + padding), max_height, short)
    with _FONT_LOCK:
        title, body = _fit_blocks(request, str(font_path), layout)
        _paste_panel(card, [(title, _TITLE_COLOUR), (body, _BODY_COLOUR)], layout)
        _paste_tag(card, f"#{request.shot_index + 1:02d}", str(font_path), layout)


def _fit_blocks(request: ImageRequest, font_path: str, layout: _Layout) -> tuple[_TextBlock, _TextBlock]:
    title_size = max(8, round(layout.short * 0.08))
    title = _fit(request.subject, font_path, title_size, 0.7, layout.text_width, layout.max_text_height, max_lines=2)
    gap = title.line_height // 3 if title.lines else 0
    body_room = layout.max_text_height - title.height - gap
    body_size = max(7, round(layout.short * 0.045))
    body = _fit(request.narration, font_path, body_size, 0.65, layout.text_width, body_room, max_lines=8)
    return title, body


def _fit(
    text: str, font_path: str, size: int, min_ratio: float, max_width: int, max_height: int, *, max_lines: int
) -> _TextBlock:
    """Wrap ``text`` at the largest size (down to ``min_ratio`` of ``size``) that fits; cut it short
    with an ellipsis when even the smallest does not."""
    min_size = max(6, math.floor(size * min_ratio))
    while True:
        font = _load_font(font_path, size)
        line_height = round(size * 1.32)
        lines = wrap(text.strip(), font.getlength, max_width)
        room = min(max_lines, max_height // line_height)
        if len(lines) <= room or size <= min_size:
            break
        size = max(min_size, math.floor(size * 0.9))
    if len(lines) > room:
        lines = (lines[: room - 1] + [ellipsize(lines[room - 1], font.getlength, max_width)]) if room > 0 else []
    return _TextBlock(font, lines, line_height)


def _paste_panel(card: Image.Image, blocks: list[tuple[_TextBlock, RGB]], layout: _Layout) -> None:
    blocks = [(block, colour) for block, colour in blocks if block.lines]
    if not blocks:
        return
    gap = blocks[0][0].line_height // 3
    size = (card.width - 2 * layout.margin, sum(block.height for block, _ in blocks) + gap * (len(blocks) - 1))
    size = (size[0], size[1] + 2 * layout.padding)
    panel = Image.new("RGBA", size, (0, 0, 0, 0))
    box = (0, 0, size[0] - 1, size[1] - 1)
    ImageDraw.Draw(panel).rounded_rectangle(box, radius=layout.padding, fill=(8, 8, 12, _PANEL_ALPHA))
    lines: list[_PlacedLine] = []
    y = layout.padding
    for block, colour in blocks:
        for text in block.lines:
            lines.append(_PlacedLine(text, block.font, (layout.padding, y), colour))
            y += block.line_height
        y += gap
    _draw_shadowed(panel, lines, shadow_offset=max(1, round(blocks[0][0].line_height / 24)))
    bottom = card.height - round(card.height * SUBTITLE_SAFE_SHARE)
    card.paste(panel, (layout.margin, bottom - size[1]), panel)


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


def _paste_tag(card: Image.Image, tag: str, font_path: str, layout: _Layout) -> None:
    font = _load_font(font_path, max(6, round(layout.short * 0.04)))
    left, top, right, bottom = font.getbbox(tag)
    pad = max(1, layout.padding // 2)
    size = (right - left + 2 * pad, bottom - top + 2 * pad)
    badge = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(badge)
    draw.rounded_rectangle((0, 0, size[0] - 1, size[1] - 1), radius=pad, fill=(8, 8, 12, 130))
    draw.text((pad - left, pad - top), tag, font=font, fill=(255, 255, 255, 235))
    card.paste(badge, (layout.margin, layout.margin), badge)


# Each face of an OpenType CJK font holds about 1 MiB of FreeType's parsed tables, so the cache is kept
# small: one resolution uses about ten sizes (title and body fitted down in steps, the tag, the check).
FONT_FACES_KEPT = 16


@lru_cache(maxsize=FONT_FACES_KEPT)
def _load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)
