"""The watermark: placement and alpha, pixel by pixel; skipping; the packaged PNG."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, ImageChops

from imagefn import imaging
from imagefn.renditions import POSITIONS, Rendition, RenditionError, Watermark
from imagefn.watermark import MIN_MARK_SIDE, apply_watermark, mark_size, packaged_mark

from . import images

MAX = 50_000_000
GREY = (100, 100, 100)
RED_OPAQUE = (255, 0, 0, 255)
BLUE_HALF = (0, 0, 255, 128)


def two_tone_mark(size: tuple[int, int] = (40, 20)) -> Image.Image:
    """Left half opaque red, right half half-transparent blue."""
    mark = Image.new("RGBA", size, BLUE_HALF)
    mark.paste(RED_OPAQUE, (0, 0, size[0] // 2, size[1]))
    return mark


def blend(under: tuple[int, ...], over: tuple[int, ...], alpha: float) -> tuple[float, ...]:
    return tuple(o * alpha + u * (1 - alpha) for u, o in zip(under, over, strict=False))


def spec(**fields: Any) -> Watermark:
    mark = Watermark(**fields)
    mark.check("r")
    return mark


def changed_box(a: Image.Image, b: Image.Image) -> tuple[int, int, int, int] | None:
    return ImageChops.difference(a.convert("RGBA"), b.convert("RGBA")).getbbox(alpha_only=False)


# --------------------------------------------------------------------------------------
# Pixel by pixel


@pytest.mark.parametrize("opacity", [1.0, 0.5, 0.2])
def test_every_pixel_is_the_mark_blended_with_its_alpha_times_opacity(opacity: float) -> None:
    image = Image.new("RGB", (200, 100), GREY)
    mark = two_tone_mark()
    # 20% of 200 is 40: the mark's own size, so no resampling blurs the two halves.
    out = apply_watermark(image, mark, spec(position="bottom-right", margin=10,
                                            opacity=opacity, scale=0.2))  # fmt: skip
    assert out.mode == "RGB" and out.size == image.size
    left, top = 200 - 10 - 40, 100 - 10 - 20
    for y in range(100):
        for x in range(200):
            got = out.getpixel((x, y))
            inside = left <= x < left + 40 and top <= y < top + 20
            if not inside:
                assert got == GREY, (x, y)
                continue
            colour = RED_OPAQUE if x < left + 20 else BLUE_HALF
            alpha = round(colour[3] * opacity) / 255
            expected = blend(GREY, colour[:3], alpha)
            assert all(abs(g - e) <= 1 for g, e in zip(got, expected, strict=True)), (x, y)  # type: ignore[arg-type]


def test_on_a_transparent_rendition_the_mark_keeps_its_own_alpha() -> None:
    image = Image.new("RGBA", (100, 50), (0, 0, 0, 0))
    image.paste((0, 255, 0, 255), (0, 0, 50, 50))  # left half opaque green
    out = apply_watermark(image, two_tone_mark(), spec(position="center", margin=0,
                                                       opacity=1.0, scale=0.4, min_width=0))  # fmt: skip
    # Mark at (30, 15)-(70, 35): red half over x 30-50 (green), blue half over 50-70 (clear).
    assert out.getpixel((35, 20)) == RED_OPAQUE
    assert out.getpixel((45, 20)) == RED_OPAQUE
    assert out.getpixel((55, 20)) == BLUE_HALF  # over nothing: the mark as it is
    assert out.getpixel((75, 20)) == (0, 0, 0, 0)
    assert out.getpixel((25, 20)) == (0, 255, 0, 255)


@pytest.mark.parametrize("position", POSITIONS)
def test_each_position_puts_the_mark_where_it_says(position: str) -> None:
    image = Image.new("RGB", (300, 200), GREY)
    out = apply_watermark(image, two_tone_mark(), spec(position=position, margin=7,
                                                       opacity=1.0, scale=40 / 300))  # fmt: skip
    x = {"left": 7, "right": 300 - 7 - 40}
    y = {"top": 7, "bottom": 200 - 7 - 20}
    horizontal = next((h for h in ("left", "right") if h in position), "")
    vertical = next((v for v in ("top", "bottom") if v in position), "")
    left, top = x.get(horizontal, (300 - 40) // 2), y.get(vertical, (200 - 20) // 2)
    assert changed_box(image, out) == (left, top, left + 40, top + 20)


def test_the_mark_scales_with_the_rendition_width() -> None:
    mark = packaged_mark()
    for width in (400, 800, 1600):
        assert mark_size((width, width), mark.size, spec(scale=0.25)) == (
            width // 4,
            width // 4 * mark.height // mark.width,
        )


def test_a_grey_rendition_becomes_rgb_to_carry_the_mark() -> None:
    out = apply_watermark(Image.new("L", (200, 100), 100), two_tone_mark(), spec(scale=0.2))
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == GREY


# --------------------------------------------------------------------------------------
# When it is skipped or shrunk


def test_below_the_minimum_width_there_is_no_mark() -> None:
    image = Image.new("RGB", (199, 400), GREY)
    assert apply_watermark(image, two_tone_mark(), spec(min_width=200)) is image
    assert apply_watermark(image, two_tone_mark(), spec(min_width=199)) is not image


def test_a_mark_larger_than_the_rendition_is_scaled_down_inside_the_margins() -> None:
    image = Image.new("RGB", (300, 30), GREY)
    big = two_tone_mark((2000, 1000))  # 2:1, far larger than the rendition
    out = apply_watermark(image, big, spec(position="top-left", margin=5, opacity=1.0,
                                           scale=1.0, min_width=0))  # fmt: skip
    box = changed_box(image, out)
    assert box is not None
    left, top, right, bottom = box
    assert (left, top) == (5, 5) and bottom <= 25 and right <= 295
    assert (right - left, bottom - top) == (40, 20)  # height-bound: 20 px, ratio kept


@pytest.mark.parametrize("size", [(20, 20), (300, 8), (8, 300)])
def test_a_mark_that_cannot_fit_is_skipped_not_an_error(size: tuple[int, int]) -> None:
    image = Image.new("RGB", size, GREY)
    mark_spec = spec(margin=3, scale=1.0, min_width=0)
    out = apply_watermark(image, two_tone_mark((400, 400)), mark_spec)
    if min(size) - 6 < MIN_MARK_SIDE:
        assert out is image
    else:
        assert changed_box(image, out) is not None


def test_a_rendition_smaller_than_the_packaged_mark_renders() -> None:
    data = images.encode(images.photo((64, 48)), "PNG")
    tiny = Rendition(name="t", width=24, height=24, fit="cover", format="jpeg",
                     watermark=Watermark(scale=1.0, margin=0, min_width=0))  # fmt: skip
    out = imaging.render(data, tiny, max_pixels=MAX)
    assert (out.width, out.height) == (24, 24)


# --------------------------------------------------------------------------------------
# Through render, with the packaged PNG


def test_the_packaged_mark_has_soft_alpha() -> None:
    mark = packaged_mark()
    assert mark.mode == "RGBA"
    levels = set(mark.getchannel("A").get_flattened_data())  # type: ignore[arg-type]
    assert 0 in levels and any(0 < a < 255 for a in levels)


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_render_puts_the_mark_only_where_it_belongs(fmt: str) -> None:
    data = images.encode(images.photo((800, 600)), "PNG")
    plain = Rendition(name="r", width=400, height=300, fit="contain", format=fmt)  # type: ignore[arg-type]
    marked = Rendition(name="r", width=400, height=300, fit="contain", format=fmt,  # type: ignore[arg-type]
                       watermark=Watermark(position="bottom-left", margin=10))  # fmt: skip
    a = Image.open(io.BytesIO(imaging.render(data, plain, max_pixels=MAX).data))
    b = Image.open(io.BytesIO(imaging.render(data, marked, max_pixels=MAX).data))
    size = mark_size((400, 300), packaged_mark().size, Watermark())
    assert size == (100, 25)
    expected = (10, 300 - 10 - 25, 10 + 100, 300 - 10)
    if fmt == "png":  # lossless: exactly the mark's box changed
        assert changed_box(a, b) == expected
    else:  # lossy codecs spread a change a little: it is still all in the mark's box
        diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB")).convert("L")
        inside = diff.crop(expected)
        outside_total = sum(diff.histogram()[i] * i for i in range(256)) - sum(
            inside.histogram()[i] * i for i in range(256)
        )
        inside_mean = sum(inside.histogram()[i] * i for i in range(256)) / (100 * 25)
        outside_mean = outside_total / (400 * 300 - 100 * 25)
        assert inside_mean > 20 * outside_mean, (inside_mean, outside_mean)


def test_fill_padding_is_watermarked_too() -> None:
    data = images.encode(images.photo((400, 100)), "PNG")
    rendition = Rendition(name="f", width=400, height=400, fit="fill", format="png",
                          watermark=Watermark(position="top", margin=0, opacity=1.0))  # fmt: skip
    out = Image.open(io.BytesIO(imaging.render(data, rendition, max_pixels=MAX).data))
    assert out.getpixel((200, 5))[3] > 0  # the padding was transparent; the mark is not  # type: ignore[index]


def test_every_frame_of_an_animation_is_marked() -> None:
    frames = [Image.new("RGB", (300, 200), (40 * i, 80, 120)) for i in range(3)]
    data = images.encode(frames[0], "GIF", save_all=True, append_images=frames[1:],
                         duration=40, loop=0)  # fmt: skip
    rendition = Rendition(name="a", width=300, height=200, format="webp", animated=True,
                          quality=100, watermark=Watermark(opacity=1.0))  # fmt: skip
    out = Image.open(io.BytesIO(imaging.render(data, rendition, max_pixels=MAX).data))
    assert out.n_frames == 3
    for index in range(3):
        out.seek(index)
        frame = out.convert("RGB")
        assert changed_box(frames[index], frame) is not None, index


# --------------------------------------------------------------------------------------
# The field


def test_a_watermark_round_trips_through_the_plan() -> None:
    rendition = Rendition.from_dict({"name": "w", "width": 500, "height": 500,
                                     "watermark": {"position": "top-left", "minWidth": 300}})  # fmt: skip
    assert rendition.watermark == Watermark(position="top-left", min_width=300)
    planned = rendition.to_dict()
    assert planned["watermark"]["minWidth"] == 300
    assert Rendition.from_dict(planned) == rendition
    assert "watermark" not in Rendition(name="w", width=5, height=5).to_dict()


@pytest.mark.parametrize(
    ("mark", "says"),
    [
        ("yes", "w: watermark must be a mapping"),
        ({"where": "top"}, "w: watermark: unknown field"),
        ({"position": "middle"}, "w: watermark.position must be one of"),
        ({"margin": -1}, "w: watermark.margin must be a whole number from 0 to 1000"),
        ({"margin": 2.5}, "w: watermark.margin must be a whole number"),
        ({"opacity": 0}, "w: watermark.opacity must be a number above 0 and at most 1"),
        ({"opacity": True}, "w: watermark.opacity must be a number"),
        ({"scale": 1.5}, "w: watermark.scale must be a number above 0 and at most 1"),
        ({"minWidth": "300"}, "w: watermark.minWidth must be a whole number"),
    ],
)
def test_a_bad_watermark_names_the_field(mark: object, says: str) -> None:
    with pytest.raises(RenditionError, match=says):
        Rendition.from_dict({"name": "w", "width": 5, "height": 5, "watermark": mark})
