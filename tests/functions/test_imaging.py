"""The pure imaging core: geometry, orientation, modes, colour, metadata, encoding."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageOps

from imagefn import imaging
from imagefn.renditions import Rendition

from . import images
from .images import BLUE, GREEN, RED, WHITE_RGB, YELLOW, close, pixel

MAX = 50_000_000


def rendition(width: int = 100, height: int = 100, fit: str = "contain", fmt: str = "png",
              quality: int = 90) -> Rendition:  # fmt: skip
    return Rendition.from_dict(
        {
            "name": "r",
            "width": width,
            "height": height,
            "fit": fit,
            "format": fmt,
            "quality": quality,
        }
    )


def open_output(out: imaging.RenderedImage) -> Image.Image:
    im = Image.open(io.BytesIO(out.data))
    assert im.format == out.format
    assert im.size == (out.width, out.height)
    return im


# --------------------------------------------------------------------------------------
# Orientation


@pytest.mark.parametrize("source_format", ["JPEG", "PNG", "WEBP", "AVIF"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied(source_format: str, orientation: int) -> None:
    upright = images.quadrants((800, 600))  # displayed: landscape, red top-left
    stored = images.stored_for(upright, orientation)
    params = {"quality": 95} if source_format != "PNG" else {}
    data = images.encode(stored, source_format, exif=images.exif_bytes(orientation), **params)

    info = imaging.validate_image(data, max_pixels=MAX)
    assert (info.width, info.height, info.orientation) == (800, 600, orientation)

    out = imaging.render(data, rendition(100, 100, "contain", "png"), max_pixels=MAX)
    im = open_output(out)
    assert im.size == (100, 75)  # landscape as displayed, whatever the stored shape
    for (x, y), colour in {
        (10, 10): RED,
        (90, 10): GREEN,
        (10, 65): BLUE,
        (90, 65): YELLOW,
    }.items():
        assert close(pixel(im, (x, y))[:3], colour), (orientation, (x, y), pixel(im, (x, y)))
    assert "exif" not in im.info and not im.getexif()


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_cover_on_rotated_jpeg_uses_displayed_shape(orientation: int) -> None:
    upright = images.quadrants((400, 1200))  # displayed: tall
    data = images.encode(
        images.stored_for(upright, orientation), "JPEG", exif=images.exif_bytes(orientation)
    )
    out = imaging.render(data, rendition(90, 30, "cover", "png"), max_pixels=MAX)
    im = open_output(out)
    assert im.size == (90, 30)
    # The middle band of a tall image: the crop's top is red/green, its bottom blue/yellow.
    assert close(pixel(im, (5, 3))[:3], RED) and close(pixel(im, (85, 3))[:3], GREEN)
    assert close(pixel(im, (5, 27))[:3], BLUE) and close(pixel(im, (85, 27))[:3], YELLOW)


def test_broken_exif_does_not_reject_the_image() -> None:
    data = images.encode(images.photo(), "JPEG", exif=b"Exif\x00\x00garbage-not-tiff")
    out = imaging.render(data, rendition(32, 32), max_pixels=MAX)
    assert (out.width, out.height) == (32, 24)


# --------------------------------------------------------------------------------------
# Fit modes


SOURCES = {"landscape": (400, 200), "portrait": (150, 450), "small": (40, 30), "square": (300, 300)}
BOXES = [(100, 100), (120, 60), (50, 90)]


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("box", BOXES)
def test_contain_fits_inside_keeps_ratio_and_never_upscales(
    source: str, box: tuple[int, int]
) -> None:
    sw, sh = SOURCES[source]
    data = images.encode(images.photo((sw, sh)), "PNG")
    out = imaging.render(data, rendition(*box, "contain"), max_pixels=MAX)
    w, h = out.width, out.height
    assert w <= box[0] and h <= box[1]
    assert w <= sw and h <= sh
    if sw <= box[0] and sh <= box[1]:
        assert (w, h) == (sw, sh)  # already fits: untouched size
    else:
        assert w == box[0] or h == box[1]  # touches the box on one side
    assert abs(w - h * sw / sh) <= 1 and abs(h - w * sh / sw) <= 1  # aspect kept (rounding)


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("box", BOXES)
@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_cover_is_exactly_the_box(source: str, box: tuple[int, int], fmt: str) -> None:
    data = images.encode(images.photo(SOURCES[source]), "PNG")
    out = imaging.render(data, rendition(*box, "cover", fmt), max_pixels=MAX)
    assert (out.width, out.height) == box
    assert open_output(out).size == box


def test_cover_crops_the_centre_without_distortion() -> None:
    # Three vertical bands of 100x100 squares with a circle in the middle one.
    src = Image.new("RGB", (300, 100), RED)
    src.paste(GREEN, (100, 0, 200, 100))
    src.paste(BLUE, (200, 0, 300, 100))
    out = open_output(
        imaging.render(images.encode(src, "PNG"), rendition(50, 50, "cover"), max_pixels=MAX)
    )
    assert out.size == (50, 50)
    for xy in [(2, 2), (47, 2), (25, 25), (2, 47), (47, 47)]:
        assert close(pixel(out, xy)[:3], GREEN, 10), xy


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("box", BOXES)
def test_fill_is_exactly_the_box_with_transparent_padding(
    source: str, box: tuple[int, int]
) -> None:
    sw, sh = SOURCES[source]
    data = images.encode(Image.new("RGB", (sw, sh), RED), "PNG")
    out = open_output(imaging.render(data, rendition(*box, "fill", "png"), max_pixels=MAX))
    assert out.size == box
    # The content is the source scaled to fit (up or down), centred; the rest transparent.
    scale = min(box[0] / sw, box[1] / sh)
    cw, ch = round(sw * scale), round(sh * scale)
    assert abs(cw / ch - sw / sh) < 0.05
    bbox = out.convert("RGBA").getchannel("A").getbbox()  # no padding: no alpha added
    assert bbox is not None
    assert abs((bbox[2] - bbox[0]) - cw) <= 1 and abs((bbox[3] - bbox[1]) - ch) <= 1
    assert abs(bbox[0] - (box[0] - (bbox[2] - bbox[0])) // 2) <= 1
    if (cw, ch) != box:
        assert pixel(out, (0, 0))[3] == 0 or pixel(out, (box[0] - 1, box[1] - 1))[3] == 0
    assert close(pixel(out, (box[0] // 2, box[1] // 2)), (*RED, 255))


def test_fill_pads_with_white_for_jpeg() -> None:
    data = images.encode(Image.new("RGB", (200, 100), BLUE), "PNG")
    out = open_output(imaging.render(data, rendition(100, 100, "fill", "jpeg"), max_pixels=MAX))
    assert out.size == (100, 100) and out.mode == "RGB"
    assert close(pixel(out, (50, 5))[:3], WHITE_RGB, 8)  # padding above
    assert close(pixel(out, (50, 50))[:3], BLUE, 20)


# --------------------------------------------------------------------------------------
# Decoding at reduced scale


def test_draft_decodes_a_large_jpeg_at_reduced_scale(big_jpeg: bytes) -> None:
    thumb = rendition(200, 200, "cover", "webp")
    size = imaging.decoded_size(big_jpeg, thumb, max_pixels=MAX)
    # 1/4: the largest DCT scale still twice 267x200 (1/8, 500x375, is not)
    assert size == (1000, 750)
    out = imaging.render(big_jpeg, thumb, max_pixels=MAX)
    assert (out.width, out.height) == (200, 200)

    medium = rendition(800, 800, "contain", "jpeg")
    assert imaging.decoded_size(big_jpeg, medium, max_pixels=MAX) == (2000, 1500)
    large = rendition(3000, 3000, "contain", "jpeg")
    assert imaging.decoded_size(big_jpeg, large, max_pixels=MAX) == (4000, 3000)


def test_draft_keeps_twice_the_target(big_jpeg: bytes) -> None:
    # A DCT-scaled decode lets detail near its own Nyquist limit through; the LANCZOS
    # after it needs 2x to remove it (imaging.DRAFT_GAPS, benchmarks/quality.py).
    half = rendition(1000, 1000, "contain", "webp")  # 1/2 is exactly twice 1000x750
    assert imaging.decoded_size(big_jpeg, half, max_pixels=MAX) == (2000, 1500)
    just_over = rendition(1001, 1001, "contain", "webp")  # needs more than half: full decode
    assert imaging.decoded_size(big_jpeg, just_over, max_pixels=MAX) == (4000, 3000)
    large = rendition(1600, 1600, "contain", "webp")  # 1/2 would cover it, but only 1.25x
    assert imaging.decoded_size(big_jpeg, large, max_pixels=MAX) == (4000, 3000)
    out = imaging.render(big_jpeg, large, max_pixels=MAX)
    assert (out.width, out.height) == (1600, 1200)


def test_draft_is_planned_on_the_displayed_orientation() -> None:
    # Stored 2400x800 with orientation 6: displayed 800x2400 (tall). A 100x300 contain
    # needs 100x300 as displayed, i.e. 300x100 stored, twice that 600x200 -> 1/4 scale.
    stored = images.photo((2400, 800))
    data = images.encode(stored, "JPEG", exif=images.exif_bytes(6))
    r = rendition(100, 300, "contain", "png")
    assert imaging.decoded_size(data, r, max_pixels=MAX) == (600, 200)
    out = imaging.render(data, r, max_pixels=MAX)
    assert (out.width, out.height) == (100, 300)


def test_progressive_jpeg_input(big_jpeg: bytes) -> None:
    data = images.encode(images.photo((1200, 900)), "JPEG", progressive=True, quality=85)
    r = rendition(150, 150, "contain", "jpeg")
    assert imaging.decoded_size(data, r, max_pixels=MAX) == (300, 225)  # 1/4: twice 150x113
    out = open_output(imaging.render(data, r, max_pixels=MAX))
    assert out.size == (150, 112) or out.size == (150, 113)
    reference = images.photo((1200, 900)).resize(out.size, Image.Resampling.LANCZOS)
    assert close(pixel(out, (75, 56))[:3], pixel(reference, (75, 56))[:3], 30)


# --------------------------------------------------------------------------------------
# Modes and colour


def test_cmyk_jpeg_becomes_rgb() -> None:
    cmyk = Image.new("CMYK", (64, 64), (0, 255, 255, 0))  # red ink
    data = images.encode(cmyk, "JPEG", quality=95)
    for fmt in ("jpeg", "png", "webp"):
        out = open_output(imaging.render(data, rendition(32, 32, fmt=fmt), max_pixels=MAX))
        assert out.mode == "RGB"
        assert close(pixel(out, (16, 16))[:3], RED, 20), fmt


def test_cmyk_profile_is_not_attached_to_the_rgb_output() -> None:
    cmyk = Image.new("CMYK", (64, 64), (0, 255, 255, 0))
    data = images.encode(cmyk, "JPEG", icc_profile=images.fake_cmyk_icc())
    assert Image.open(io.BytesIO(data)).info.get("icc_profile")
    out = open_output(imaging.render(data, rendition(32, 32, fmt="jpeg"), max_pixels=MAX))
    assert out.mode == "RGB" and not out.info.get("icc_profile")
    assert close(pixel(out, (16, 16))[:3], RED, 20)


def test_cmyk_with_a_profile_is_converted_through_it(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, object]] = []

    def convert(im: Image.Image, source: object, target: object, **kw: object) -> Image.Image:
        calls.append({"mode": im.mode, "source": source, **kw})
        return Image.new("RGB", im.size, GREEN)  # a stand-in for the colour-managed result

    from PIL import ImageCms  # what imaging uses for CMYK with a profile

    monkeypatch.setattr(ImageCms, "profileToProfile", convert)
    data = images.encode(Image.new("CMYK", (32, 32)), "JPEG", icc_profile=images.fake_cmyk_icc())
    out = open_output(imaging.render(data, rendition(16, 16, fmt="png"), max_pixels=MAX))
    assert len(calls) == 1 and calls[0]["mode"] == "CMYK" and calls[0]["outputMode"] == "RGB"
    assert close(pixel(out, (8, 8))[:3], GREEN, 2) and not out.info.get("icc_profile")


@pytest.mark.parametrize("value", [0, 12850, 32896, 65535])
def test_16_bit_png_is_scaled_to_8_bit_not_clipped(value: int) -> None:
    data = images.png16(value)
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out = open_output(imaging.render(data, rendition(8, 8, fmt="png"), max_pixels=MAX))
    assert out.mode == "L"
    assert abs(out.getpixel((4, 4)) - round(value / 257)) <= 1  # type: ignore[operator]


def test_16_bit_mid_grey_stays_mid_grey_in_every_format() -> None:
    data = images.png16(32896)  # 128 * 257
    for fmt in ("jpeg", "webp", "avif", "png"):
        out = open_output(imaging.render(data, rendition(8, 8, fmt=fmt), max_pixels=MAX))
        value = pixel(out, (4, 4))
        assert all(abs(c - 128) <= 3 for c in value[:3]), (fmt, value)


def test_palette_png_transparency_is_kept_with_alpha_and_flattened_for_jpeg() -> None:
    data = images.palette_png_with_transparency((40, 40))
    for fmt in ("png", "webp", "avif"):
        out = open_output(imaging.render(data, rendition(20, 20, fmt=fmt), max_pixels=MAX))
        assert out.mode == "RGBA", fmt
        assert pixel(out, (2, 10))[3] == 0, fmt  # left: transparent
        assert close(pixel(out, (17, 10)), (*RED, 255), 30), fmt  # right: opaque red
    out = open_output(imaging.render(data, rendition(20, 20, fmt="jpeg"), max_pixels=MAX))
    assert out.mode == "RGB"
    assert close(pixel(out, (2, 10))[:3], WHITE_RGB, 10)  # transparency onto white
    assert close(pixel(out, (17, 10))[:3], RED, 30)


def test_grey_with_alpha_and_one_bit_images() -> None:
    la = Image.merge(
        "LA", (Image.new("L", (20, 20), 90), Image.linear_gradient("L").resize((20, 20)))
    )
    out = open_output(imaging.render(images.encode(la, "PNG"), rendition(10, 10), max_pixels=MAX))
    assert out.mode == "RGBA" and pixel(out, (5, 0))[3] < 40 and pixel(out, (5, 9))[3] > 200
    one = Image.new("1", (20, 20), 1)
    one.paste(0, (0, 0, 10, 20))
    out = open_output(imaging.render(images.encode(one, "PNG"), rendition(10, 10), max_pixels=MAX))
    assert out.mode == "L" and out.getpixel((1, 5)) == 0 and out.getpixel((8, 5)) == 255


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animations_give_their_first_frame(fmt: str) -> None:
    data = images.animated(fmt, [RED, GREEN, BLUE])
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    for out_fmt in ("png", "original"):
        out = open_output(imaging.render(data, rendition(16, 16, fmt=out_fmt), max_pixels=MAX))
        assert close(pixel(out, (8, 6))[:3], RED, 10), (fmt, out_fmt)
        assert getattr(out, "n_frames", 1) == 1


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "avif"])
def test_icc_profile_is_kept(fmt: str) -> None:
    icc = images.srgb_icc()
    data = images.encode(images.photo((64, 48)), "JPEG", icc_profile=icc)
    out = open_output(imaging.render(data, rendition(32, 32, fmt=fmt), max_pixels=MAX))
    assert out.info.get("icc_profile") == icc


def test_grey_profile_is_not_put_on_rgb_output() -> None:
    grey = bytearray(images.srgb_icc())
    grey[16:20] = b"GRAY"
    data = images.encode(Image.new("L", (32, 32), 100), "JPEG", icc_profile=bytes(grey))
    webp = open_output(imaging.render(data, rendition(16, 16, fmt="webp"), max_pixels=MAX))
    assert not webp.info.get("icc_profile")
    jpeg = open_output(imaging.render(data, rendition(16, 16, fmt="jpeg"), max_pixels=MAX))
    assert jpeg.mode == "L" and jpeg.info.get("icc_profile") == bytes(grey)


@pytest.mark.parametrize("source_format", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "avif"])
def test_exif_and_gps_are_stripped(source_format: str, fmt: str) -> None:
    exif = images.exif_bytes(1, gps=True)
    data = images.encode(images.photo((64, 48)), source_format, exif=exif)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # the source has GPS
    out_bytes = imaging.render(data, rendition(32, 32, fmt=fmt), max_pixels=MAX).data
    out = Image.open(io.BytesIO(out_bytes))
    assert "exif" not in out.info
    assert not out.getexif() and not out.getexif().get_ifd(0x8825)
    assert b"TestCam" not in out_bytes and b"Exif\x00\x00" not in out_bytes


# --------------------------------------------------------------------------------------
# Output formats and naming


@pytest.mark.parametrize(
    ("requested", "source", "expected"),
    [
        ("webp", "JPEG", "WEBP"),
        ("jpeg", "PNG", "JPEG"),
        ("avif", "GIF", "AVIF"),
        ("png", "WEBP", "PNG"),
        ("original", "JPEG", "JPEG"),
        ("original", "GIF", "GIF"),
        ("original", "AVIF", "AVIF"),
        ("original", "TIFF", "PNG"),
    ],
)
def test_output_format(requested: str, source: str, expected: str) -> None:
    assert imaging.output_format(requested, source) == expected


def test_keys() -> None:
    stem = imaging.key_stem("uploads/cats/My Cat.JPG", "uploads/")
    assert stem == "cats/My Cat"
    assert imaging.key_stem("uploads/a.b.c.png", "uploads/") == "a.b.c"
    assert imaging.key_stem("elsewhere/x.png", "uploads/") == "elsewhere/x"
    assert imaging.key_stem("uploads/.hidden", "uploads/") == ".hidden"
    thumb = Rendition(name="thumb", width=10, height=10, fit="cover", format="webp")
    plan = imaging.plan_rendition(thumb, source_format="JPEG", stem=stem)
    assert plan == {
        **thumb.to_dict(),
        "key": "thumb/cats/My Cat.webp",
        "contentType": "image/webp",
    }
    orig = Rendition(name="o", width=10, height=10, format="original")
    assert imaging.plan_rendition(orig, source_format="GIF", stem="x")["key"] == "o/x.gif"
    jpeg = Rendition(name="m", width=10, height=10, format="jpeg")
    assert imaging.plan_rendition(jpeg, source_format="PNG", stem="x")["key"] == "m/x.jpg"


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "avif", "original"])
def test_output_is_deterministic(fmt: str, jpeg_photo: bytes) -> None:
    r = rendition(120, 90, "cover", fmt, 75)
    first = imaging.render(jpeg_photo, r, max_pixels=MAX)
    second = imaging.render(jpeg_photo, r, max_pixels=MAX)
    assert first == second and first.data == second.data
    assert first.content_type == imaging.MEDIA_TYPES[first.format]
    assert first.ext == imaging.EXTENSIONS[first.format]


def test_jpeg_output_is_progressive_and_uses_the_quality(jpeg_photo: bytes) -> None:
    low = imaging.render(jpeg_photo, rendition(200, 200, fmt="jpeg", quality=30), max_pixels=MAX)
    high = imaging.render(jpeg_photo, rendition(200, 200, fmt="jpeg", quality=95), max_pixels=MAX)
    assert len(low.data) < len(high.data)
    assert Image.open(io.BytesIO(high.data)).info.get("progressive") == 1


def test_source_info(png_photo: bytes) -> None:
    info = imaging.inspect_image(png_photo, max_pixels=MAX)
    assert info.to_dict() == {
        "format": "PNG",
        "width": 320,
        "height": 240,
        "mediaType": "image/png",
    }
    assert imaging.validate_image(png_photo, max_pixels=MAX) == info


def test_peek_reads_the_header_from_a_prefix(big_jpeg: bytes, png_photo: bytes) -> None:
    info = imaging.peek_image(big_jpeg[: imaging.HEADER_BYTES], max_pixels=MAX)
    assert info is not None and (info.format, info.width, info.height) == ("JPEG", 4000, 3000)
    assert imaging.peek_image(png_photo[:100], max_pixels=MAX) is not None
    webp = images.encode(images.photo((64, 48)), "WEBP")
    assert imaging.peek_image(webp[:40], max_pixels=MAX) is None  # whole file needed
    assert imaging.peek_image(big_jpeg[:30], max_pixels=MAX) is None  # header cut short


def test_rendered_image_repr_has_no_bytes(png_photo: bytes) -> None:
    out = imaging.render(png_photo, rendition(10, 10), max_pixels=MAX)
    assert "data" not in repr(out) and "\\x" not in repr(out)


def test_mpo_is_read_as_jpeg() -> None:
    frames = [images.photo((64, 48)), Image.new("RGB", (64, 48), BLUE)]
    data = images.encode(frames[0], "MPO", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    info = imaging.validate_image(data, max_pixels=MAX)
    assert info.format == "JPEG" and info.media_type == "image/jpeg"
    out = imaging.render(data, rendition(32, 32, fmt="original"), max_pixels=MAX)
    assert out.format == "JPEG"


def test_exif_transpose_oracle_matches_our_transposes() -> None:
    upright = images.quadrants((6, 4))
    for orientation in range(1, 9):
        stored = images.stored_for(upright, orientation)
        data = images.encode(stored, "PNG", exif=images.exif_bytes(orientation))
        ours = open_output(imaging.render(data, rendition(6, 6), max_pixels=MAX))
        theirs = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
        assert ours.convert("RGB").tobytes() == theirs.convert("RGB").tobytes(), orientation
