"""Test images, generated on the fly (no binary files in the repository).

Plain functions so that tests elsewhere (the render CLI's) can use them too; the
conftest beside this file wraps the common ones as fixtures.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from typing import Any

import pillow_heif
from PIL import Image, ImageCms, ImageDraw, ImageOps

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
YELLOW = (255, 255, 0)
WHITE_RGB = (255, 255, 255)

# Stored image -> displayed: the inverse of what ImageOps.exif_transpose applies.
_INVERSE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def encode(im: Image.Image, fmt: str, **params: Any) -> bytes:
    if fmt == "HEIF":
        return heif(im, **params)
    buffer = io.BytesIO()
    im.save(buffer, fmt, **params)
    return buffer.getvalue()


def heif(im: Image.Image, **params: Any) -> bytes:
    """HEIC written by pillow-heif itself (its standalone API: the Pillow plugin is left
    for the imaging core to register). ``exif`` with an orientation becomes irot/imir."""
    buffer = io.BytesIO()
    pillow_heif.from_pillow(im).save(buffer, **params)
    return buffer.getvalue()


def heif_deep(
    colour: tuple[int, ...], size: tuple[int, int] = (48, 32), *, bits: int = 10
) -> bytes:
    """A lossless 10- or 12-bit HEIC of one 16-bit colour (RGB, or RGBA with 4 values)."""
    mode = "RGBA;16" if len(colour) == 4 else "RGB;16"
    raw = struct.pack(f"<{len(colour)}H", *colour) * (size[0] * size[1])
    previous = pillow_heif.options.SAVE_HDR_TO_12_BIT  # only settable as an option
    pillow_heif.options.SAVE_HDR_TO_12_BIT = bits == 12
    try:
        buffer = io.BytesIO()
        pillow_heif.from_bytes(mode=mode, size=size, data=raw).save(buffer, quality=-1, chroma=444)
    finally:
        pillow_heif.options.SAVE_HDR_TO_12_BIT = previous
    return buffer.getvalue()


def heif_claiming(width: int, height: int) -> bytes:
    """A valid small HEIC whose ispe box (the image's declared size) says width x height."""
    # 128x96: a multiple of the coding block, so there is no clap box (clean aperture,
    # which would set the size instead).
    data = bytearray(heif(photo((128, 96))))
    at = data.index(b"ispe")
    struct.pack_into(">II", data, at + 8, width, height)  # after version and flags
    return bytes(data)


def photo(size: tuple[int, int] = (64, 48)) -> Image.Image:
    """A smooth RGB image with some structure (compresses like a photo, not like noise)."""
    w, h = size
    gradient = Image.linear_gradient("L").resize(size)
    im = Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_90).resize(size),
                             Image.new("L", size, 128)))  # fmt: skip
    draw = ImageDraw.Draw(im)
    draw.ellipse((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=(200, 60, 40))
    return im


def quadrants(size: tuple[int, int]) -> Image.Image:
    """Four solid quadrants: top-left red, top-right green, bottom-left blue, bottom-right
    yellow. Any flip or rotation moves a colour to another corner."""
    w, h = size
    im = Image.new("RGB", size)
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 0, w // 2 - 1, h // 2 - 1), fill=RED)
    draw.rectangle((w // 2, 0, w - 1, h // 2 - 1), fill=GREEN)
    draw.rectangle((0, h // 2, w // 2 - 1, h - 1), fill=BLUE)
    draw.rectangle((w // 2, h // 2, w - 1, h - 1), fill=YELLOW)
    return im


def stored_for(upright: Image.Image, orientation: int) -> Image.Image:
    """The stored pixels that EXIF ``orientation`` displays as ``upright``."""
    method = _INVERSE[orientation]
    stored = upright.transpose(method) if method is not None else upright.copy()
    # The oracle: Pillow's own exif_transpose must turn it back.
    stored.getexif()[0x0112] = orientation
    check = ImageOps.exif_transpose(stored)
    assert check.tobytes() == upright.tobytes(), orientation
    return stored


def exif_bytes(orientation: int | None = None, *, gps: bool = False) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    if orientation is not None:
        exif[0x0112] = orientation
    if gps:
        gps_ifd = exif.get_ifd(0x8825)
        gps_ifd[1] = "N"
        gps_ifd[2] = (51.0, 30.0, 0.0)
        gps_ifd[3] = "W"
        gps_ifd[4] = (0.0, 7.0, 0.0)
    return exif.tobytes()


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def fake_cmyk_icc() -> bytes:
    """An ICC profile that claims to be CMYK (LittleCMS will not use it: the fallback)."""
    data = bytearray(srgb_icc())
    data[16:20] = b"CMYK"
    return bytes(data)


def png16(value: int, size: tuple[int, int] = (16, 16)) -> bytes:
    return encode(Image.new("I;16", size, value), "PNG")


def palette_png_with_transparency(size: tuple[int, int] = (40, 40)) -> bytes:
    """P image: left half transparent (index 0), right half opaque red (index 1)."""
    im = Image.new("P", size, 0)
    im.putpalette([0, 0, 0, *RED] + [0, 0, 0] * 254)
    ImageDraw.Draw(im).rectangle((size[0] // 2, 0, size[0] - 1, size[1] - 1), fill=1)
    return encode(im, "PNG", transparency=0)


def animated(
    fmt: str, colours: list[tuple[int, int, int]], size: tuple[int, int] = (32, 24)
) -> bytes:
    frames = [Image.new("RGB", size, c) for c in colours]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height (valid chunk CRCs, no real pixel data)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def webp_vp8x_header(width: int, height: int) -> bytes:
    """The start of an extended WebP that declares a width x height canvas."""
    payload = b"\0\0\0\0" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.jpg", b"not really")
    return buffer.getvalue()


def psd_header() -> bytes:
    # signature, version 1, 6 reserved, 3 channels, height 16, width 16, depth 8, RGB mode
    return b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 16, 16, 8, 3) + b"\0" * 64


def flip_bit_in_chunk(png: bytes, kind: bytes = b"IDAT") -> bytes:
    """Flip one bit in the middle of the first chunk of that kind (CRC left as it was)."""
    start = png.index(kind) + 4
    length = struct.unpack(">I", png[start - 8 : start - 4])[0]
    data = bytearray(png)
    data[start + length // 2] ^= 0x10
    return bytes(data)


def flip_bit_in_jpeg_huffman_table(jpeg: bytes) -> bytes:
    """Damage the code counts of the first DHT segment: the entropy data no longer decodes."""
    start = jpeg.index(b"\xff\xc4")
    data = bytearray(jpeg)
    data[start + 6] ^= 0x80
    return bytes(data)


def pixel(im: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    value = im.convert("RGBA").getpixel(xy)
    assert isinstance(value, tuple)
    return value


def close(a: tuple[int, ...], b: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=False))
