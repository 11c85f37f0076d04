"""Every reason code from a real bad input, and nothing but ImageRejected for bad bytes."""

from __future__ import annotations

import gzip
import pickle
import random
import time
from collections.abc import Callable

import pytest
from PIL import Image

from imagefn import imaging
from imagefn.errors import REASONS, ImageRejected
from imagefn.renditions import Rendition

from . import images

MAX = 40_000_000
THUMB = Rendition(name="thumb", width=32, height=32, fit="cover", format="webp")


def reason_of(call: Callable[[], object]) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        call()
    exc = caught.value
    assert exc.reason in REASONS
    assert str(exc) == f"{exc.reason}: {exc.message}"
    assert str(exc).split(":", 1)[0] == exc.reason  # what the state machine parses
    return exc


def check_everywhere(data: bytes, reason: str) -> ImageRejected:
    """The same reason from every entry point that reads whole files."""
    exc = reason_of(lambda: imaging.validate_image(data, max_pixels=MAX))
    assert exc.reason == reason, exc
    assert reason_of(lambda: imaging.render(data, THUMB, max_pixels=MAX)).reason == reason
    return exc


def test_error_text_is_reason_colon_message() -> None:
    exc = ImageRejected("corrupt", "bad: things: happened")
    assert str(exc) == "corrupt: bad: things: happened"
    assert (exc.reason, exc.message) == ("corrupt", "bad: things: happened")
    assert type(exc).__name__ == "ImageRejected"
    again = pickle.loads(pickle.dumps(exc))
    assert str(again) == str(exc) and again.reason == "corrupt"
    with pytest.raises(ValueError, match="unknown rejection reason"):
        ImageRejected("nope", "x")  # type: ignore[arg-type]


def test_zero_bytes_is_empty() -> None:
    check_everywhere(b"", "empty")
    assert reason_of(lambda: imaging.peek_image(b"", max_pixels=MAX)).reason == "empty"


@pytest.mark.parametrize(
    ("name", "data", "described"),
    [
        ("text", b"just some notes, saved as photo.jpg\n" * 20, "text"),
        ("html", b"<!DOCTYPE html><html><body><img src=x></body></html>", "HTML"),
        ("pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "PDF"),
        ("zip", images.zip_bytes(), "ZIP"),
        # SVG is read (test_svg.py), compressed SVG (.svgz) is not.
        ("svgz", gzip.compress(b'<svg xmlns="http://www.w3.org/2000/svg"/>', mtime=0), "gzip"),
        ("xml", b'<?xml version="1.0"?>\n<catalog><item/></catalog>', "XML"),
        ("binary", bytes(range(256)) * 4, "starts with"),
        ("mp4", b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom" + b"\0" * 100, "starts with"),
        ("riff-wav", b"RIFF\x24\0\0\0WAVEfmt " + b"\0" * 64, "starts with"),
        ("half-gif-magic", b"GIF8", "text"),
    ],
)
def test_not_an_image(name: str, data: bytes, described: str) -> None:
    exc = check_everywhere(data, "not_an_image")
    assert described in exc.message, name
    assert reason_of(lambda: imaging.peek_image(data, max_pixels=MAX)).reason == "not_an_image"


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("ICO", lambda: images.encode(images.photo((32, 32)), "ICO")),
        ("PSD", images.psd_header),
        ("TIFF", lambda: images.encode(images.photo((32, 32)), "TIFF")),
        ("BMP", lambda: images.encode(images.photo((32, 32)), "BMP")),
        ("JPEG 2000", lambda: images.encode(images.photo((32, 32)), "JPEG2000")),
        ("QOI", lambda: images.encode(images.photo((32, 32)), "QOI")),
        ("Netpbm", lambda: images.encode(images.photo((32, 32)), "PPM")),
    ],
)
def test_real_but_unaccepted_formats(name: str, make: Callable[[], bytes]) -> None:
    data = make()
    exc = check_everywhere(data, "unsupported_format")
    assert name in exc.message
    assert reason_of(lambda: imaging.peek_image(data[:64], max_pixels=MAX)).reason == (
        "unsupported_format"
    )


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "AVIF", "HEIF"])
def test_truncated_files_are_corrupt(fmt: str) -> None:
    data = images.encode(images.photo((200, 150)), fmt)
    for cut in (len(data) // 2, len(data) * 9 // 10):
        exc = check_everywhere(data[:cut], "corrupt")
        assert fmt in exc.message


def test_truncated_progressive_jpeg_is_corrupt() -> None:
    data = images.encode(images.photo((400, 300)), "JPEG", progressive=True)
    check_everywhere(data[: len(data) * 3 // 4], "corrupt")


def test_jpeg_missing_only_its_end_marker_is_corrupt() -> None:
    data = images.encode(images.photo((200, 150)), "JPEG")
    assert data.endswith(b"\xff\xd9")
    check_everywhere(data[:-2], "corrupt")


def test_bit_flipped_png_is_corrupt(png_photo: bytes) -> None:
    # Inflating this damaged IDAT happens to succeed; only the chunk CRC shows the damage,
    # and validation (the inspect step) checks it so the upload is refused up front.
    data = images.flip_bit_in_chunk(png_photo, b"IDAT")
    exc = reason_of(lambda: imaging.validate_image(data, max_pixels=MAX))
    assert exc.reason == "corrupt" and "PNG" in exc.message


def test_bit_flipped_png_header_is_corrupt(png_photo: bytes) -> None:
    check_everywhere(images.flip_bit_in_chunk(png_photo, b"IHDR"), "corrupt")


def test_bit_flipped_jpeg_tables_are_corrupt(jpeg_photo: bytes) -> None:
    check_everywhere(images.flip_bit_in_jpeg_huffman_table(jpeg_photo), "corrupt")


def test_header_claiming_100000_squared_pixels_is_refused_without_decoding() -> None:
    data = images.png_header(100_000, 100_000)
    started = time.perf_counter()
    exc = check_everywhere(data, "too_many_pixels")
    assert reason_of(lambda: imaging.peek_image(data, max_pixels=MAX)).reason == "too_many_pixels"
    assert time.perf_counter() - started < 1.0
    assert "40,000,000" in exc.message


def test_pixel_limit_is_ours_not_pillows() -> None:
    # 3000x3000 = 9 Mpx: far below Pillow's own limit, above ours.
    data = images.png_header(3000, 3000)
    exc = reason_of(lambda: imaging.inspect_image(data, max_pixels=8_000_000))
    assert exc.reason == "too_many_pixels" and "3000x3000" in exc.message
    assert imaging.inspect_image(data, max_pixels=9_000_000).pixels == 9_000_000
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # untouched


def test_pillow_bomb_warning_turned_into_an_error_still_reads_as_too_many_pixels() -> None:
    data = images.png_header(10_000, 10_000)  # 100 Mpx: Pillow warns (above 89 Mpx)
    with pytest.warns(Image.DecompressionBombWarning):
        exc = reason_of(lambda: imaging.inspect_image(data, max_pixels=MAX))
    assert exc.reason == "too_many_pixels"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert reason_of(lambda: imaging.inspect_image(data, max_pixels=MAX)).reason == (
            "too_many_pixels"
        )


def test_webp_canvas_is_checked_before_pillow_opens_it() -> None:
    header = images.webp_vp8x_header(16_000, 16_000)
    assert reason_of(lambda: imaging.peek_image(header, max_pixels=MAX)).reason == (
        "too_many_pixels"
    )
    assert reason_of(lambda: imaging.inspect_image(header, max_pixels=MAX)).reason == (
        "too_many_pixels"
    )


def test_webp_and_avif_sizes_are_checked() -> None:
    for fmt in ("WEBP", "AVIF"):
        data = images.encode(images.photo((300, 200)), fmt)
        exc = reason_of(lambda data=data: imaging.validate_image(data, max_pixels=50_000))
        assert exc.reason == "too_many_pixels", fmt


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "AVIF", "HEIF"])
def test_damaged_bytes_only_ever_raise_image_rejected(fmt: str) -> None:
    """A small fuzz: truncations, bit flips and spliced garbage never escape as anything
    but ImageRejected (or, for a harmless flip, a rendition)."""
    source = images.encode(images.photo((96, 64)), fmt)
    rng = random.Random(f"imagepipe-{fmt}")
    for _ in range(60):
        data = bytearray(source)
        kind = rng.randrange(3)
        if kind == 0:
            data = data[: rng.randrange(1, len(data))]
        elif kind == 1:
            for _flip in range(rng.randrange(1, 4)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        else:
            at = rng.randrange(len(data))
            data[at : at + 16] = rng.randbytes(16)
        try:
            imaging.validate_image(bytes(data), max_pixels=MAX)
            imaging.render(bytes(data), THUMB, max_pixels=MAX)
        except ImageRejected as exc:
            assert exc.reason in {"corrupt", "not_an_image", "unsupported_format",
                                  "too_many_pixels"}  # fmt: skip


def test_a_rejection_message_reads_back_as_its_reason() -> None:
    """One format, one reader: the Lambda writes it, the CLI (and the state machine's
    StringSplit on ':') read the reason code back from it."""
    from imagefn.errors import REASONS, ImageRejected, reason_of

    for reason in sorted(REASONS):
        assert reason_of(str(ImageRejected(reason, "what: went wrong"))) == reason  # type: ignore[arg-type]
    assert reason_of("Lambda.Unknown: Task timed out") is None
    assert reason_of("") is None
