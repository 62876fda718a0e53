import io

import pytest
from PIL import Image

from story2video.errors import InvalidArtifact
from story2video.media.pictures import cover_fit, fit_png_file, read_picture, write_cover_png


def test_fit_covers_the_frame_and_crops_the_overflow(tmp_path):
    source = tmp_path / "wide.png"
    image = Image.new("RGB", (400, 100), (0, 0, 255))
    image.paste((255, 0, 0), (150, 0, 250, 100))  # red in the middle square, blue on both sides
    image.save(source)
    dest = tmp_path / "fit.png"
    fit_png_file(source, dest, 100, 100)
    with Image.open(dest) as fitted:
        assert fitted.size == (100, 100)
        for x in (1, 50, 98):  # the blue sides were cut off, not squeezed in
            assert fitted.getpixel((x, 50)) == (255, 0, 0)


def test_a_tall_picture_keeps_its_middle_band():
    image = Image.new("RGB", (100, 400), (0, 255, 0))
    image.paste((255, 255, 0), (0, 150, 100, 250))
    fitted = cover_fit(image, 200, 200)
    assert fitted.size == (200, 200)
    assert fitted.getpixel((100, 2)) == (255, 255, 0)
    assert fitted.getpixel((100, 197)) == (255, 255, 0)


def _wide_png() -> bytes:
    image = Image.new("RGB", (200, 100), (255, 0, 0))
    image.paste((0, 0, 255), (100, 0, 200, 100))
    image.paste((0, 255, 0), (0, 0, 40, 100))  # lies in the part the crop removes
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("as_file", [False, True], ids=["bytes", "file"])
def test_a_picture_from_bytes_or_a_file_is_covered_cropped_and_saved_as_png(tmp_path, as_file):
    source = tmp_path / "wide.png"
    source.write_bytes(_wide_png())
    write_cover_png(source if as_file else source.read_bytes(), tmp_path / "square.png", 50, 50, ValueError)
    with Image.open(tmp_path / "square.png") as square:
        assert (square.format, square.size) == ("PNG", (50, 50))
        assert square.getpixel((5, 25)) == (255, 0, 0) and square.getpixel((45, 25)) == (0, 0, 255)


@pytest.mark.parametrize("source", [b"not a picture", "missing.png", "garbage.png"])
def test_an_unreadable_picture_raises_the_callers_error_without_paths(tmp_path, source):
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    reasons: list[str] = []

    def unreadable(why: str) -> InvalidArtifact:
        reasons.append(why)
        return InvalidArtifact(f"the backend's picture is not readable: {why}", backend="somewhere")

    with pytest.raises(InvalidArtifact, match="the backend's picture is not readable") as caught:
        read_picture(source if isinstance(source, bytes) else tmp_path / source, unreadable)
    assert caught.value.backend == "somewhere" and reasons and str(tmp_path) not in reasons[0]
