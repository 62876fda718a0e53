from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageFont, ImageStat

from story2video.errors import InvalidRequest, OperationCancelled
from story2video.media.fonts import FontInfo, resolve_cjk_font
from story2video.providers.base import ImageGenerator, ImageRequest, StageContext
from story2video.providers.preview.keyframe import SUBTITLE_SAFE_SHARE, TitleCardPainter, style_palette
from story2video.providers.preview.text import ellipsize, wrap

THUMB = (32, 18)
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
NARRATION = "老陈在江边开了一家小小的面馆，已经整整三十年了。每天清晨五点，他都会准时推开那扇吱呀作响的木门，点亮炉火。"


def request(**overrides) -> ImageRequest:
    values = dict(
        prompt="写实风格，远景：江边的小面馆",
        subject="江边的小面馆",
        narration=NARRATION,
        style="写实",
        width=320,
        height=180,
        seed=42,
        shot_index=0,
    )
    values.update(overrides)
    return ImageRequest(**values)


_card_numbers = itertools.count()


def paint(tmp_path: Path, painter: TitleCardPainter | None = None, **overrides) -> Path:
    dest = tmp_path / f"card-{next(_card_numbers)}.png"
    asyncio.run((painter or TitleCardPainter()).generate(request(**overrides), dest, StageContext()))
    return dest


def load(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def thumb(image: Image.Image) -> Image.Image:
    return image.resize(THUMB, Image.Resampling.BILINEAR)


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def moved(image: Image.Image, zoom: float = 1.12, pan: float = 0.0) -> Image.Image:
    """What a Ken Burns frame shows: a 1/zoom window, panned by ``pan`` (-1..1) of the spare room."""
    width, height = image.size
    crop_w, crop_h = width / zoom, height / zoom
    left = (width - crop_w) / 2 * (1 + pan)
    top = (height - crop_h) / 2
    return image.crop((round(left), round(top), round(left + crop_w), round(top + crop_h))).resize(image.size)


@pytest.mark.parametrize("size", [(1280, 720), (1080, 1920), (512, 512), (64, 64), (3840, 2160), (97, 301)])
def test_card_is_a_png_of_exactly_the_requested_size(tmp_path, size):
    width, height = size
    path = paint(tmp_path, width=width, height=height)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == size and image.mode == "RGB"
        image.verify()


def test_same_request_gives_identical_bytes(tmp_path):
    first, second = paint(tmp_path), paint(tmp_path, TitleCardPainter(resolve_cjk_font()))
    assert first != second and first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize(
    "style,size", [("写实", (320, 180)), ("水墨", (180, 320)), ("动漫", (256, 256)), ("某种未知风格", (320, 180))]
)
def test_shots_of_one_story_are_told_apart_by_thumbnail_even_after_pan_and_zoom(tmp_path, style, size):
    width, height = size
    cards = [load(paint(tmp_path, style=style, width=width, height=height, shot_index=i)) for i in range(8)]
    thumbs = [thumb(card) for card in cards]
    closest_pair = min(mean_abs_diff(a, b) for a, b in itertools.combinations(thumbs, 2))
    zoom_effect = max(mean_abs_diff(thumb(moved(card)), thumbs[i]) for i, card in enumerate(cards))
    assert closest_pair > 1.3 * zoom_effect, (closest_pair, zoom_effect)
    for i, card in enumerate(cards):
        for pan in (-1.0, 0.0, 1.0):
            frame = thumb(moved(card, pan=pan))
            assert min(range(len(thumbs)), key=lambda j: mean_abs_diff(frame, thumbs[j])) == i


def test_seed_changes_the_picture_and_style_changes_the_palette(tmp_path):
    base = thumb(load(paint(tmp_path)))
    assert mean_abs_diff(base, thumb(load(paint(tmp_path, seed=43)))) > 5
    assert mean_abs_diff(base, thumb(load(paint(tmp_path, style="赛博朋克")))) > 10
    assert style_palette("赛博朋克风格") == style_palette("Cyberpunk")
    assert style_palette("蒸汽波") == style_palette("蒸汽波") != style_palette("低多边形")


def test_chinese_text_is_really_drawn(tmp_path):
    # A font without CJK glyphs draws 中 and 英 as the same box, so the cards would be identical.
    chinese = load(paint(tmp_path, subject="标题", narration="中文"))
    english = load(paint(tmp_path, subject="标题", narration="英文"))
    assert ImageChops.difference(chinese, english).getbbox() is not None
    blank = load(paint(tmp_path, subject="", narration=""))
    assert ImageChops.difference(chinese, blank).getbbox() is not None


def test_long_text_stays_between_the_picture_and_the_subtitle_band(tmp_path):
    short = load(paint(tmp_path, width=640, height=360, narration="短"))
    long = load(paint(tmp_path, width=640, height=360, subject="很长的标题" * 10, narration=NARRATION * 30))
    top = (0, 0, 640, 144)  # the upper 40 %
    subtitle_band = (0, 360 - round(360 * SUBTITLE_SAFE_SHARE), 640, 360)
    for region in (top, subtitle_band):
        assert ImageChops.difference(short.crop(region), long.crop(region)).getbbox() is None, region
    assert ImageChops.difference(short, long).getbbox() is not None


def test_wrap_breaks_between_cjk_characters_but_not_inside_english_words():
    font = ImageFont.truetype(str(resolve_cjk_font().path), 20)
    lines = wrap("我今天用iPhone拍了一张照片，然后发给了我的朋友Tom看看。", font.getlength, 120)
    assert all(font.getlength(line) <= 120 for line in lines) and len(lines) > 2
    assert "".join(lines) == "我今天用iPhone拍了一张照片，然后发给了我的朋友Tom看看。"
    assert any("iPhone" in line for line in lines) and any("Tom" in line for line in lines)
    assert not any(line.startswith(("，", "。")) for line in lines)
    english = wrap("The lighthouse keeper climbed the stairs", font.getlength, 150)
    assert " ".join(english) == "The lighthouse keeper climbed the stairs"
    assert all(font.getlength(line) <= 150 for line in english)
    cut = ellipsize("一二三四五六七八九十", font.getlength, 80)
    assert cut.endswith("…") and font.getlength(cut) <= 80


def test_size_out_of_range_is_refused(tmp_path):
    with pytest.raises(InvalidRequest) as error:
        paint(tmp_path, width=10)
    assert error.value.param == "width"


def test_cancelled_generation_writes_nothing(tmp_path):
    dest = tmp_path / "cancelled.png"
    ctx = StageContext(is_cancelled=lambda: True)
    with pytest.raises(OperationCancelled):
        asyncio.run(TitleCardPainter().generate(request(), dest, ctx))
    assert not dest.exists()


def test_status_checks_the_font_draws_chinese():
    painter = TitleCardPainter()
    assert isinstance(painter, ImageGenerator)
    assert asyncio.run(painter.status()).ready
    latin_only = asyncio.run(TitleCardPainter(FontInfo(path=DEJAVU, family="DejaVu Sans")).status())
    assert not latin_only.ready and "Chinese" in latin_only.detail
