from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageFont, ImageStat

from story2video.errors import InvalidRequest, OperationCancelled
from story2video.media.fonts import FontInfo, resolve_cjk_font
from story2video.media.subtitles import SubtitleFrame
from story2video.providers.base import CAMERA_MOVES, ClipRequest, ImageGenerator, ImageRequest, StageContext
from story2video.providers.preview.clip import KenBurnsClipMaker
from story2video.providers.preview.keyframe import TitleCardPainter, caption, paint_background, style_palette
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


LONG = dict(
    subject="很长很长的标题，一直写下去也不停，" * 4,
    narration=NARRATION * 6,
    prompt="写实风格，低角度全景：幽暗的薄雾与微光，远处的渔火一闪一闪，岸边停着三条小船，" * 3,
)


def move_zoom(tmp_path: Path) -> float:
    """How far the preview clip maker's moves zoom, asked of the clip maker itself."""
    keyframe = paint(tmp_path)
    clip_request = ClipRequest(keyframe=keyframe, prompt="", camera="镜头向右平移", duration=2.0, width=320, height=180, fps=12, seed=1)
    return asyncio.run(KenBurnsClipMaker().animate(clip_request, tmp_path / "unused.mp4", StageContext())).zoom


def windows(size: tuple[int, int], zoom: float) -> dict[str, list[tuple[float, float, float, float]]]:
    """What each move shows at its start, middle and end (left, top, right, bottom in pixels),
    worked out here from how a Ken Burns move is defined, not from the code under test."""
    width, height = size
    found: dict[str, list[tuple[float, float, float, float]]] = {}
    for move in CAMERA_MOVES:
        boxes = []
        for progress in (0.0, 0.5, 1.0):
            scale = {"static": 1.0, "push_in": 1 + (zoom - 1) * progress, "pull_out": zoom - (zoom - 1) * progress}.get(move, zoom)
            across = {"pan_right": progress, "pan_left": 1 - progress}.get(move, 0.5)
            down = {"tilt_down": progress, "tilt_up": 1 - progress}.get(move, 0.5)
            w, h = width / scale, height / scale
            left, top = (width - w) * across, (height - h) * down
            boxes.append((left, top, left + w, top + h))
        found[move] = boxes
    return found


def drawn_box(tmp_path: Path, **overrides) -> tuple[int, int, int, int]:
    """The bounding box of everything drawn over the background: panel, text, shadows, the tag."""
    card = load(paint(tmp_path, **overrides))
    background = paint_background(request(**overrides))
    box = ImageChops.difference(card, background).getbbox()
    assert box is not None, "nothing was drawn"
    return box


@pytest.mark.parametrize("size", [(1280, 720), (720, 1280), (720, 720), (320, 180), (1920, 1080)])
@pytest.mark.parametrize("subtitled", [True, False])
def test_no_camera_move_crops_the_text_or_carries_it_under_the_subtitles(tmp_path, size, subtitled):
    width, height = size
    left, top, right, bottom = drawn_box(tmp_path, width=width, height=height, subtitled=subtitled, **LONG)
    band_top = SubtitleFrame(width, height).band_top
    for move, boxes in windows(size, move_zoom(tmp_path)).items():
        for w_left, w_top, w_right, w_bottom in boxes:
            assert w_left <= left and right <= w_right and w_top <= top and bottom <= w_bottom, (move, (left, top, right, bottom))
            if subtitled:  # where the card's lowest row lands in the output frame
                assert (bottom - w_top) * height / (w_bottom - w_top) <= band_top, (move, bottom, band_top)


def test_a_subtitled_card_leaves_the_narration_to_the_subtitles(tmp_path):
    quiet = dict(prompt="远景：江面上的薄雾", subtitled=True)
    one = paint(tmp_path, narration="老陈在江边开了一家小面馆。", **quiet)
    other = paint(tmp_path, narration="夜里，萤火虫照亮了河岸。", **quiet)
    assert one.read_bytes() == other.read_bytes()
    spoken = paint(tmp_path, narration="老陈在江边开了一家小面馆。", prompt=quiet["prompt"], subtitled=False)
    unspoken = paint(tmp_path, narration="夜里，萤火虫照亮了河岸。", prompt=quiet["prompt"], subtitled=False)
    assert ImageChops.difference(load(spoken), load(unspoken)).getbbox() is not None


@pytest.mark.parametrize("subtitled", [True, False])
def test_a_new_detail_changes_the_card_visibly(tmp_path, subtitled):
    before = load(paint(tmp_path, prompt="写实风格，远景：江边的小面馆", subtitled=subtitled))
    after = load(paint(tmp_path, prompt="新的细节描述：晨雾中的木窗", subtitled=subtitled))
    assert mean_abs_diff(thumb(before), thumb(after)) > 5  # the motif follows the detail
    without = load(paint(tmp_path, prompt="新的细节描述：晨雾中的木窗", subject="", narration="", subtitled=subtitled))
    with_caption = paint_background(request(prompt="新的细节描述：晨雾中的木窗", subtitled=subtitled))
    assert ImageChops.difference(without, with_caption).getbbox() is not None  # the caption is drawn


def test_the_caption_is_the_detail_less_what_is_on_screen_already():
    zh = request(
        prompt="写实风格，低角度全景：夜里，她终于听见了海浪的声音。幽暗的薄雾与微光。",
        subject="她终于听见了海浪的声音",
        narration="夜里，她终于听见了海浪的声音。",
    )
    assert caption(zh) == "低角度全景：幽暗的薄雾与微光"
    en = request(
        prompt="Mrs. Smith found the great old house at the end of the lane. Wide establishing shot, 写实 style, soft natural light.",
        subject="Mrs. Smith found the great old",
        narration="Mrs. Smith found the great old house at the end of the lane.",
    )
    assert caption(en) == "Wide establishing shot, soft natural light"
    assert caption(request(prompt="新的细节描述：晨雾中的木窗")) == "新的细节描述：晨雾中的木窗"


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
