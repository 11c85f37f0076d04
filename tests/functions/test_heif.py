"""HEIF/HEIC input: sniffed from bytes, limits from the header, orientation applied once,
ICC kept, 10/12-bit and alpha handled, the primary image used. Every file is written by
pillow-heif itself (tests/functions/images.py)."""

from __future__ import annotations

import io
import struct

import pillow_heif
import pytest
from PIL import Image

from imagefn import imaging
from imagefn.errors import ImageRejected
from imagefn.renditions import Rendition

from . import images
from .conftest import Aws
from .events import RENDITIONS
from .test_handlers import run_pipeline

MAX = 40_000_000
SAME = Rendition(name="same", width=1000, height=1000, fit="contain", format="png")


def render_png(data: bytes, rendition: Rendition = SAME) -> Image.Image:
    out = imaging.render(data, rendition, max_pixels=MAX)
    image = Image.open(io.BytesIO(out.data))
    image.load()
    return image


def test_heic_is_sniffed_from_its_bytes_whatever_the_brands_order() -> None:
    data = images.heif(images.photo((64, 48)))
    assert data[8:12] == b"heic"
    assert imaging.sniff_format(data) == "HEIF"
    # A HEIF whose major brand is the generic mif1 and lists heic as compatible.
    generic = b"\0\0\0\x18ftypmif1\0\0\0\0mif1heic" + b"\0" * 32
    assert imaging.sniff_format(generic) == "HEIF"
    # AVIF lists mif1 too, and is still AVIF.
    avif = images.encode(images.photo((64, 48)), "AVIF")
    assert imaging.sniff_format(avif) == "AVIF"


def test_inspect_reads_the_size_from_the_header_and_validate_decodes() -> None:
    data = images.heif(images.photo((320, 240)), quality=80)
    info = imaging.inspect_image(data, max_pixels=MAX)
    assert (info.format, info.width, info.height, info.media_type) == (
        "HEIF", 320, 240, "image/heif"
    )  # fmt: skip
    assert imaging.validate_image(data, max_pixels=MAX) == info
    assert imaging.peek_image(data[: imaging.HEADER_BYTES], max_pixels=MAX) == info


def test_renditions_of_a_heic_have_the_contract_sizes_and_colours() -> None:
    upright = images.quadrants((320, 240))
    data = images.heif(upright, quality=90)
    cover = Rendition(name="thumb", width=100, height=100, fit="cover", format="webp")
    out = imaging.render(data, cover, max_pixels=MAX)
    assert (out.format, out.width, out.height) == ("WEBP", 100, 100)
    image = render_png(data, Rendition(name="half", width=160, height=120, format="png"))
    assert image.size == (160, 120)
    for xy, colour in (((10, 10), images.RED), ((150, 10), images.GREEN),
                       ((10, 110), images.BLUE), ((150, 110), images.YELLOW)):  # fmt: skip
        assert images.close(images.pixel(image, xy), (*colour, 255)), xy


def test_format_original_of_a_heic_is_png_browsers_do_not_show_heic() -> None:
    data = images.heif(images.photo((64, 48)))
    original = Rendition(name="orig", width=32, height=32, format="original")
    assert imaging.render(data, original, max_pixels=MAX).format == "PNG"
    assert imaging.output_format("original", "HEIF") == "PNG"


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_rotation_is_applied_once(orientation: int) -> None:
    """pillow-heif writes the EXIF orientation as the container's irot/imir and keeps the
    EXIF tag: libheif rotates on decode, and the tag must not rotate it again."""
    upright = images.quadrants((120, 80))
    stored = images.stored_for(upright, orientation)
    # Only the pixels: pillow-heif would also act on the orientation stored_for leaves in
    # the image's own EXIF.
    stored = Image.frombytes(stored.mode, stored.size, stored.tobytes())
    data = images.heif(stored, quality=95, exif=images.exif_bytes(orientation))
    raw = pillow_heif.open_heif(io.BytesIO(data))
    exif = Image.Exif()
    exif.load(raw.info["exif"])
    assert exif.get(0x0112) == orientation  # the trap: EXIF still says rotate
    info = imaging.inspect_image(data, max_pixels=MAX)
    assert (info.width, info.height, info.orientation) == (120, 80, 1)
    image = render_png(data)
    assert image.size == (120, 80)
    for xy, colour in (((5, 5), images.RED), ((115, 5), images.GREEN),
                       ((5, 75), images.BLUE), ((115, 75), images.YELLOW)):  # fmt: skip
        assert images.close(images.pixel(image, xy), (*colour, 255)), (orientation, xy)


def test_icc_profile_is_kept_and_exif_dropped() -> None:
    icc = images.srgb_icc()
    data = images.heif(images.photo((64, 48)), icc_profile=icc, exif=images.exif_bytes(1, gps=True))
    webp = Rendition(name="w", width=32, height=32, format="webp")
    out = imaging.render(data, webp, max_pixels=MAX)
    with Image.open(io.BytesIO(out.data)) as image:
        assert image.info.get("icc_profile") == icc
        assert not image.getexif()


@pytest.mark.parametrize("bits", [10, 12])
def test_deep_colour_is_scaled_to_eight_bits_not_clipped(bits: int) -> None:
    data = images.heif_deep((65535, 0, 32896), bits=bits)
    assert pillow_heif.open_heif(io.BytesIO(data)).info["bit_depth"] == bits
    image = render_png(data)
    assert image.mode == "RGB"
    assert images.close(images.pixel(image, (5, 5)), (255, 0, 128, 255), tolerance=2)


def test_alpha_is_kept_where_the_format_has_it_and_flattened_on_white_in_jpeg() -> None:
    im = Image.new("RGBA", (64, 48), (0, 0, 255, 255))
    im.paste((255, 0, 0, 0), (0, 0, 32, 48))  # left half transparent
    data = images.heif(im, quality=-1, chroma=444)
    png = render_png(data)
    assert png.mode == "RGBA"
    assert images.pixel(png, (5, 20))[3] == 0
    assert images.close(images.pixel(png, (50, 20)), (0, 0, 255, 255), tolerance=3)
    jpeg = Rendition(name="j", width=64, height=48, format="jpeg")
    with Image.open(io.BytesIO(imaging.render(data, jpeg, max_pixels=MAX).data)) as flat:
        assert images.close(images.pixel(flat, (5, 20)), (255, 255, 255, 255), tolerance=8)


def test_deep_colour_alpha() -> None:
    data = images.heif_deep((0, 65535, 0, 32896), bits=10)
    image = render_png(data)
    assert image.mode == "RGBA"
    assert images.close(images.pixel(image, (5, 5)), (0, 255, 0, 128), tolerance=2)


def test_only_the_primary_image_is_used() -> None:
    heif = pillow_heif.from_pillow(Image.new("RGB", (40, 30), images.RED))
    heif.add_from_pillow(Image.new("RGB", (80, 20), images.BLUE))
    buffer = io.BytesIO()
    heif.save(buffer, primary_index=1)
    data = buffer.getvalue()
    info = imaging.validate_image(data, max_pixels=MAX)
    assert (info.width, info.height) == (80, 20)
    image = render_png(data)
    assert image.size == (80, 20)
    assert images.close(images.pixel(image, (40, 10)), (*images.BLUE, 255), tolerance=8)


def test_a_200_megapixel_heic_is_refused_from_its_header() -> None:
    data = images.heif_claiming(20_000, 10_000)
    assert len(data) < 10_000
    for call in (
        lambda: imaging.peek_image(data, max_pixels=MAX),
        lambda: imaging.inspect_image(data, max_pixels=MAX),
        lambda: imaging.validate_image(data, max_pixels=MAX),
        lambda: imaging.render(data, SAME, max_pixels=MAX),
    ):
        with pytest.raises(ImageRejected) as caught:
            call()
        assert caught.value.reason == "too_many_pixels"
    # Under our limit but not Pillow's: the message is ours, with the declared size.
    small = images.heif_claiming(5_000, 4_000)
    with pytest.raises(ImageRejected, match="5000x4000 is 20,000,000 pixels") as caught:
        imaging.inspect_image(small, max_pixels=10_000_000)
    assert caught.value.reason == "too_many_pixels"


def test_a_header_that_lies_about_a_small_size_is_corrupt_on_decode() -> None:
    data = images.heif_claiming(300, 200)  # the coded image is 128x96
    assert imaging.inspect_image(data, max_pixels=MAX).pixels == 60_000  # what the header says
    with pytest.raises(ImageRejected) as caught:
        imaging.validate_image(data, max_pixels=MAX)
    assert caught.value.reason == "corrupt" and "HEIF" in caught.value.message


def test_truncated_and_damaged_heif_are_corrupt() -> None:
    data = images.heif(images.photo((200, 150)))
    for cut in (16, 100, len(data) // 2, len(data) - 8):
        for call in (imaging.validate_image, lambda d, max_pixels: imaging.render(
                d, SAME, max_pixels=max_pixels)):  # fmt: skip
            with pytest.raises(ImageRejected) as caught:
                call(data[:cut], max_pixels=MAX)
            assert caught.value.reason == "corrupt", cut
    # The hvcC box (the decoder's configuration) overwritten with garbage.
    damaged = bytearray(data)
    at = damaged.index(b"hvcC") + 4
    damaged[at : at + 24] = bytes(range(24))
    with pytest.raises(ImageRejected) as caught:
        imaging.validate_image(bytes(damaged), max_pixels=MAX)
    assert caught.value.reason == "corrupt"


def test_the_ispe_patch_really_changes_the_declared_size() -> None:
    """The bomb tests rely on images.heif_claiming; pillow-heif must agree with it."""
    data = images.heif_claiming(1234, 567)
    assert pillow_heif.open_heif(io.BytesIO(data)).size == (1234, 567)
    assert struct.unpack_from(">II", data, data.index(b"ispe") + 8) == (1234, 567)


def test_a_heic_upload_goes_through_both_handlers(aws: Aws) -> None:
    key = "uploads/phone/IMG_0001.HEIC"
    data = images.heif(images.photo((640, 480)), quality=80)
    aws.put(key, data, "image/heic")
    planned, outputs = run_pipeline(aws, key)
    source = planned["source"]
    assert (source["format"], source["width"], source["height"], source["mediaType"]) == (
        "HEIF", 640, 480, "image/heif"
    )  # fmt: skip
    # format "original" of a HEIC is PNG (browsers do not show HEIC).
    assert [r["key"] for r in planned["renditions"]] == [
        "thumb/phone/IMG_0001.webp",
        "medium/phone/IMG_0001.jpg",
        "orig/phone/IMG_0001.png",
    ]
    for output, rendition in zip(outputs, RENDITIONS, strict=True):
        written = aws.get(output["key"])
        with Image.open(io.BytesIO(written)) as image:
            assert image.format == output["format"]
            assert image.size == (output["width"], output["height"])
        assert written == imaging.render(data, rendition, max_pixels=20_000_000).data


def test_a_heic_bomb_is_rejected_by_inspect_from_the_first_bytes(aws: Aws) -> None:
    key = "uploads/bomb.heic"
    aws.put(key, images.heif_claiming(20_000, 10_000), "image/heic")
    planned, outputs = run_pipeline(aws, key)
    assert (planned["rejection"]["reason"], outputs) == ("too_many_pixels", [])
