from PIL import Image

from story2video.media.pictures import cover_fit, fit_png_file


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
