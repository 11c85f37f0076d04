"""The imaging core: bytes in, bytes out. No AWS, no files, no globals changed; the clock
is read only to honour a caller's deadline for an animation.

Both Lambdas and ``imagepipe render`` call these functions, so what the CLI writes is
byte for byte what the pipeline writes.

Public API
  check_byte_size(size, max_bytes=)         -> refuses empty / too large files by size
  sniff_format(data)                        -> accepted format name, from magic bytes only
  peek_image(prefix, max_pixels=)           -> SourceInfo | None, from the first bytes of a file
  inspect_image(data, max_pixels=)          -> SourceInfo, header only (nothing decoded)
  validate_image(data, max_pixels=)         -> SourceInfo, header plus a cheap full decode
  render(data, rendition, max_pixels=)      -> RenderedImage, one rendition (animated when
                                               the rendition says so and the source is)
  decoded_size(data, rendition, max_pixels=)-> the size the source is decoded at for it
  output_format / key_stem / rendition_key / plan_rendition: the output naming scheme

Every function raises ImageRejected, and nothing else, for bad input bytes.

Decisions worth knowing
  * Accepted: JPEG (and MPO, its multi-picture variant, reported as JPEG), PNG (APNG:
    first frame), GIF, WebP, AVIF, HEIF/HEIC (the primary image; through pillow-heif),
    SVG (checked, then drawn by resvg at the size each rendition needs: imagefn.svg).
    TIFF, BMP, ICO, PSD and other real image formats are ``unsupported_format``; anything
    else (PDF, HTML, text, ZIP, video, compressed SVG) is ``not_an_image``. The format always comes
    from the bytes, never from a file name.
  * Only ``Image.open(..., formats=...)`` with the formats the sniffed bytes may be:
    Pillow never tries another plugin. pillow-heif is imported and registered (for HEIF
    only, with thumbnails, depth and auxiliary images off) when the first HEIF arrives, so
    other inputs do not pay for its import at cold start.
  * HEIF orientation: libheif applies the container's rotation and mirror (irot, imir)
    while decoding, and the HEIF spec makes those authoritative over EXIF, so a HEIF's
    EXIF orientation is ignored (pillow-heif resets it too): applied once, never twice.
  * The pixel limit is ours: checked from the header before anything is decoded (for
    WebP even before Pillow opens it, as libwebp allocates the canvas on open). Pillow's
    global Image.MAX_IMAGE_PIXELS is neither relied on nor changed; its hard error
    (above 2 x Image.MAX_IMAGE_PIXELS, ~179 Mpx by default, which therefore caps any
    larger limit of ours) and its warning, where filters make it an error, are reported
    as too_many_pixels too. Nothing here changes process-wide state (the local stack
    runs handlers in threads), so Pillow's warnings are left to the process's filters.
  * Width and height are as displayed, i.e. after the EXIF orientation.
  * Work is done in the stored orientation at the smallest useful scale (JPEG DCT scaling
    through ``draft``, then ``reduce`` + LANCZOS through ``reducing_gap``, each leaving
    2x headroom as libvips' thumbnail does, so fine detail does not alias); the small
    result is then transposed to the EXIF orientation. The speed settings (DRAFT_GAPS,
    RESIZE_REDUCING_GAP, RESAMPLE, WEBP_OPTIONS) are measured in benchmarks/results.md.
  * fit "fill" scales up as well as down (like CSS object-fit: contain) and pads;
    "contain" never scales up; "cover" scales either way and crops: centred, or where
    the rendition's gravity finds the detail or the subject (imagefn.gravity).
  * A rendition's watermark (imagefn.watermark) goes on last, over any padding, on every
    frame of an animation; it is the one file the core reads (from its own package).
  * Output keeps the source's ICC profile when its colour space matches the output
    (dropped after CMYK -> sRGB conversion, or for a grey profile on an RGB output).
    EXIF, XMP, comments and every other metadata are dropped.
"""

from __future__ import annotations

import functools
import io
import math
import posixpath
import re
import struct
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from PIL import Image, ImageFile, UnidentifiedImageError

from .errors import (
    CORRUPT,
    EMPTY,
    NOT_AN_IMAGE,
    TOO_MANY_BYTES,
    TOO_MANY_PIXELS,
    UNSUPPORTED_FORMAT,
    ImageRejected,
)
from .renditions import Gravity, Rendition
from .svg import check_svg, looks_like_svg, rasterize
from .watermark import apply_watermark, packaged_mark

ACCEPTED_FORMATS: Final = ("JPEG", "PNG", "GIF", "WEBP", "AVIF", "HEIF", "SVG")
"""Pillow format names of the formats the pipeline reads."""
_PILLOW_FORMATS: Final = ("JPEG", "PNG", "GIF", "WEBP", "AVIF")
"""Those Pillow reads itself; HEIF comes from pillow-heif's plugin (_register_heif)."""
HEIF_OPENER_OPTIONS: Final[Mapping[str, Any]] = {
    "thumbnails": False,  # never render an embedded preview instead of the image
    "depth_images": False,  # only the primary image is used: do not even list the rest
    "aux_images": False,
}

MEDIA_TYPES: Final[Mapping[str, str]] = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "AVIF": "image/avif",
    "HEIF": "image/heif",
    "SVG": "image/svg+xml",
}
EXTENSIONS: Final[Mapping[str, str]] = {
    "JPEG": "jpg",
    "PNG": "png",
    "GIF": "gif",
    "WEBP": "webp",
    "AVIF": "avif",
    "HEIF": "heic",
    "SVG": "svg",
}
_REQUESTED_FORMATS: Final[Mapping[str, str]] = {
    "jpeg": "JPEG",
    "png": "PNG",
    "webp": "WEBP",
    "avif": "AVIF",
}
ORIGINAL_KEPT: Final = frozenset({"JPEG", "PNG", "WEBP", "AVIF", "GIF"})
"""Source formats that format "original" keeps; any other source is written as PNG."""
_ALPHA_FORMATS: Final = frozenset({"PNG", "WEBP", "AVIF", "GIF"})

HEADER_BYTES: Final = 64 * 1024
"""How much of a file peek_image wants: enough for the header of almost every file."""

DRAFT_GAPS: Final[Mapping[int, float]] = {8: 2.0, 4: 2.0, 2: 2.0}
"""JPEG DCT scale -> the headroom over the target its decode must keep: a scale is used
only when its decode is still at least twice the target (libvips' thumbnail keeps the
same). A DCT-scaled decode is a block filter (1/8 is the 8x8 block average) that lets
detail near its own Nyquist limit through; with 2x left, the LANCZOS resample after it
removes that, with less it shows as moire. Measured on a zone plate and line art
(benchmarks/quality.py, in benchmarks/results.md): with every scale that merely covers
the target, the 800 and 1600 px renditions of a 12 MP JPEG were 4.7-15 dB PSNR below
libvips' against a full-resolution LANCZOS; with 1.5x, up to 6 dB below at other sizes
(a 333 px and a 1333 px rendition); with 2x, within 0.2 dB of libvips everywhere."""
RESIZE_REDUCING_GAP: Final = 2.0
"""After decoding, box-reduce (Image.reduce, cheap) by whole factors down to no less than
this many times the target, then resample the rest with RESAMPLE. 2.0 is libvips'
default gap too; on the zone plate as a PNG (no DCT scaling) it measured at or above
libvips, where 1.0 (box-reducing almost all the way) was 9-15 dB PSNR below and 1.5 up to
10 dB below: a box filter aliases what is near its own Nyquist limit, and a resample over
less than 2x cannot remove it. 3.0 gave the same quality for more work."""
RESAMPLE: Final = Image.Resampling.LANCZOS
"""The filter for what is left after the box reduce and the DCT scaling (2x or more) or
an upscale. BICUBIC made the 1600 px rendition about 15% faster but was 8-9 dB PSNR below
LANCZOS (libvips' lanczos3) on the zone plate: its wider transition band lets more
near-Nyquist detail alias."""

JPEG_OPTIONS: Final[Mapping[str, Any]] = {"optimize": True, "progressive": True}
# method 2, not libwebp's default 4: 40% less encoding time (the largest single cost of a
# 1600 px rendition) for about 4% more bytes at the same quality setting and a PSNR within
# 0.1 dB. Method 3 costs as much time as 4 (both search rate-distortion with trellis).
WEBP_OPTIONS: Final[Mapping[str, Any]] = {"method": 2}
# libaom's output differs between one thread and several, so the thread count is fixed
# (not the CPU count) to keep the bytes the same whatever the Lambda's memory size.
AVIF_OPTIONS: Final[Mapping[str, Any]] = {"speed": 7, "max_threads": 2}
PNG_OPTIONS: Final[Mapping[str, Any]] = {"optimize": False, "compress_level": 6}
GIF_OPTIONS: Final[Mapping[str, Any]] = {"optimize": False}

MAX_ANIMATION_PIXELS: Final = 100_000_000
"""What an animated rendition may cost: frames x the larger of the canvas and the output
size, in pixels. Frames are decoded and resized one at a time, but the encoder takes
them all at once, so this also bounds the frames held (400 MB of RGBA at worst). Past
it the upload is too_many_pixels before any frame is decoded."""
_ANIMATED_SOURCES: Final = frozenset({"GIF", "WEBP"})
SVG_CHECK_SIDE: Final = 64
"""validate_image draws an SVG this large (longest side) to prove resvg can."""

WHITE: Final = (255, 255, 255)

# EXIF orientation -> the transpose that shows the image upright (as ImageOps.exif_transpose).
_TRANSPOSE: Final[Mapping[int, Image.Transpose]] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ORIENTATION_TAG: Final = 0x0112

# What Pillow (and its C decoders) raise for damaged input. Anything else is a bug of ours.
_DECODE_ERRORS: Final = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    SyntaxError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    struct.error,
    EOFError,
    ZeroDivisionError,
    OverflowError,
    RuntimeError,  # the AVIF plugin's "Failed to decode frame"
)


# --------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class SourceInfo:
    """What the header says about an accepted image."""

    format: str
    """Pillow format name, one of ACCEPTED_FORMATS."""
    width: int
    """Width as displayed (EXIF orientation applied)."""
    height: int
    orientation: int = 1
    """EXIF orientation, 1-8 (1: stored upright)."""

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "mediaType": self.media_type,
        }


@dataclass(frozen=True)
class RenderedImage:
    """One encoded rendition."""

    data: bytes = field(repr=False)
    width: int
    height: int
    format: str
    """Pillow format name of the output: JPEG, PNG, WEBP, AVIF or GIF."""
    content_type: str
    ext: str
    """File extension without the dot: jpg, png, webp, avif or gif."""


# --------------------------------------------------------------------------------------
# Naming: which format and key each rendition gets


def output_format(requested: str, source_format: str) -> str:
    """Pillow format name a rendition is written in.

    ``requested`` is a Rendition.format; "original" keeps the source's format when
    browsers can show it (ORIGINAL_KEPT) and is PNG otherwise.
    """
    if requested == "original":
        return source_format if source_format in ORIGINAL_KEPT else "PNG"
    try:
        return _REQUESTED_FORMATS[requested]
    except KeyError:
        raise ValueError(f"unknown rendition format {requested!r}") from None


def key_stem(key: str, upload_prefix: str = "") -> str:
    """The key without the upload prefix and without its final extension.

    >>> key_stem("uploads/cats/My Cat.JPG", "uploads/")
    'cats/My Cat'
    """
    if upload_prefix and key.startswith(upload_prefix):
        key = key[len(upload_prefix) :]
    return posixpath.splitext(key)[0]


def rendition_key(name: str, stem: str, out_format: str) -> str:
    """``<rendition name>/<key stem>.<ext>``: where a rendition is written."""
    return f"{name}/{stem}.{EXTENSIONS[out_format]}"


def plan_rendition(rendition: Rendition, *, source_format: str, stem: str) -> dict[str, Any]:
    """The rendition as the resize step receives it: its spec plus key and contentType."""
    out_format = output_format(rendition.format, source_format)
    return {
        **rendition.to_dict(),
        "key": rendition_key(rendition.name, stem, out_format),
        "contentType": MEDIA_TYPES[out_format],
    }


# --------------------------------------------------------------------------------------
# Sniffing: what the first bytes say


def _ftyp_brands(data: bytes) -> frozenset[bytes]:
    """Major and compatible brands of an ISO-BMFF 'ftyp' box at the start, if any."""
    if len(data) < 12 or data[4:8] != b"ftyp":
        return frozenset()
    size = struct.unpack_from(">I", data, 0)[0]
    end = min(len(data), size if size >= 16 else 16)
    brands = {data[8:12]}
    brands.update(data[i : i + 4] for i in range(16, end - 3, 4))
    return frozenset(brands)


_AVIF_BRANDS: Final = frozenset({b"avif", b"avis"})
_HEIF_BRANDS: Final = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
)
_NETPBM: Final = re.compile(rb"P[1-7]\s")
_BMP_HEADER_SIZES: Final = frozenset({12, 16, 40, 52, 56, 64, 108, 124})


def _is_bmp(b: bytes) -> bool:
    # BITMAPFILEHEADER, then a DIB header whose first field is its own (known) size
    return (
        len(b) >= 18 and b[:2] == b"BM" and int.from_bytes(b[14:18], "little") in _BMP_HEADER_SIZES
    )


def _is_icon(b: bytes) -> bool:
    # ICONDIR: reserved 0, type 1 (icon) or 2 (cursor), image count > 0
    return len(b) >= 6 and b[:4] in (b"\0\0\1\0", b"\0\0\2\0") and b[4:6] != b"\0\0"


# Real image formats that we do not accept, by magic number.
_OTHER_IMAGES: Final[tuple[tuple[str, Callable[[bytes], bool]], ...]] = (
    ("TIFF", lambda b: b[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")),
    ("BMP", _is_bmp),
    ("ICO", _is_icon),
    ("PSD", lambda b: b[:4] == b"8BPS"),
    ("JPEG 2000", lambda b: b.startswith((b"\0\0\0\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51"))),
    ("JPEG XL", lambda b: b.startswith((b"\xff\x0a", b"\0\0\0\x0cJXL \r\n\x87\n"))),
    ("MNG", lambda b: b.startswith((b"\x8aMNG\r\n\x1a\n", b"\x8bJNG\r\n\x1a\n"))),
    ("QOI", lambda b: b[:4] == b"qoif"),
    ("DDS", lambda b: b[:4] == b"DDS "),
    ("OpenEXR", lambda b: b[:4] == b"\x76\x2f\x31\x01"),
    ("ICNS", lambda b: b[:4] == b"icns"),
    ("XCF", lambda b: b[:8] == b"gimp xcf"),
    ("BPG", lambda b: b[:4] == b"BPG\xfb"),
    ("Radiance HDR", lambda b: b.startswith((b"#?RADIANCE", b"#?RGBE"))),
    ("FITS", lambda b: b[:9] == b"SIMPLE  ="),
    ("XPM", lambda b: b[:9] == b"/* XPM */"),
    ("PCX", lambda b: len(b) >= 4 and b[0] == 10 and b[1] in (0, 2, 3, 4, 5) and b[2] == 1),
    ("SGI", lambda b: len(b) >= 4 and b[:2] == b"\x01\xda" and b[2] in (0, 1) and b[3] in (1, 2)),
    ("Netpbm", lambda b: _NETPBM.match(b) is not None),
)


def _accepted_by_magic(b: bytes) -> str | None:
    if b.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if b.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if b.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if b[:4] == b"RIFF" and b[8:12] == b"WEBP":
        return "WEBP"
    brands = _ftyp_brands(b)
    if brands & _AVIF_BRANDS:  # before HEIF: an AVIF also lists the generic mif1 brand
        return "AVIF"
    if brands & _HEIF_BRANDS:
        return "HEIF"
    if looks_like_svg(b):
        return "SVG"
    return None


def sniff_format(data: bytes) -> str:
    """The accepted format named by the magic bytes at the start of ``data``.

    Needs only the first few dozen bytes. Says nothing about whether the rest is valid.
    Raises ImageRejected: empty, unsupported_format (a real image format we do not
    accept, named in the message) or not_an_image.
    """
    if not data:
        raise ImageRejected(EMPTY, "the file has no bytes")
    accepted = _accepted_by_magic(data)
    if accepted is not None:
        return accepted
    for name, matches in _OTHER_IMAGES:
        if matches(data):
            raise ImageRejected(
                UNSUPPORTED_FORMAT,
                f"{name} images are not accepted; send {', '.join(ACCEPTED_FORMATS)}",
            )
    raise ImageRejected(NOT_AN_IMAGE, f"not a raster image ({_describe_bytes(data)})")


def _describe_bytes(data: bytes) -> str:
    head = data[:512].lstrip().lower()
    for marker, name in (
        (b"%pdf", "PDF document"),
        (b"%!ps", "PostScript document"),
        (b"pk\x03\x04", "ZIP archive"),
        (b"<svg", "SVG drawing"),
        (b"<?xml", "XML document"),
        (b"<!doctype html", "HTML document"),
        (b"<html", "HTML document"),
        (b"\x1f\x8b", "gzip data"),
    ):
        if head.startswith(marker):
            if name == "XML document" and b"<svg" in head:
                return "SVG drawing"
            return name
    sample = data[:512]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut at the end is still text
        text = sample[: exc.start].decode("utf-8") if exc.start > len(sample) - 4 else ""
    if text and all(ch.isprintable() or ch in "\t\n\r" for ch in text):
        return "text"
    return f"starts with {data[:16].hex(' ')}"


def _webp_canvas_size(data: bytes) -> tuple[int, int] | None:
    """Canvas size from a WebP header, or None if the header is not there."""
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack_from("<HH", data, 26)
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    return None


# --------------------------------------------------------------------------------------
# Opening and decoding


def check_byte_size(size: int, *, max_bytes: int) -> None:
    """Refuse a file by its size alone (before reading it): empty or too_many_bytes."""
    if size == 0:
        raise ImageRejected(EMPTY, "the file has no bytes")
    if size > max_bytes:
        raise ImageRejected(
            TOO_MANY_BYTES, f"{size:,} bytes is more than the limit of {max_bytes:,}"
        )


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    pixels = size[0] * size[1]
    if pixels > max_pixels:
        raise ImageRejected(
            TOO_MANY_PIXELS,
            f"{size[0]}x{size[1]} is {pixels:,} pixels, more than the limit of {max_pixels:,}",
        )


def _problem(exc: BaseException) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return "the header cannot be read"  # Pillow's text names a memory address
    text = str(exc).strip()
    return text or type(exc).__name__


@contextmanager
def _decoding(fmt: str, max_pixels: int) -> Iterator[None]:
    """Map whatever Pillow raises for bad bytes to ImageRejected.

    Warnings are left to the process's filters (catch_warnings is not thread-safe, and
    the local stack runs handlers in threads); where a filter turns them into errors,
    Pillow's decompression-bomb warning still reads as too_many_pixels, others as corrupt.
    """
    try:
        yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refuses before we see the size; its message carries the pixel count
        # (and its own internal limit, which would only confuse here).
        declared = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(declared.group(1)):,} pixels" if declared else "too many pixels"
        raise ImageRejected(
            TOO_MANY_PIXELS, f"the image declares {size}, more than the limit of {max_pixels:,}"
        ) from None
    except ImageRejected:
        raise
    except (*_DECODE_ERRORS, Warning) as exc:
        raise ImageRejected(CORRUPT, f"{fmt} data cannot be decoded: {_problem(exc)}") from None


def _orientation(info: Mapping[Any, Any]) -> int:
    """EXIF orientation (1-8) from an image's info, as Image.getexif reads it; 1 if none.

    Reads only ``info`` so it never triggers a decode (PngImageFile.getexif would).
    """
    try:
        exif = Image.Exif()
        raw = info.get("exif")
        if raw is None and "Raw profile type exif" in info:
            raw = bytes.fromhex("".join(str(info["Raw profile type exif"]).split("\n")[3:]))
        if raw:
            exif.load(raw)
        value = exif.get(_ORIENTATION_TAG)
        if value is None:
            xmp = info.get("XML:com.adobe.xmp") or info.get("xmp")
            if isinstance(xmp, str):
                xmp = xmp.encode("utf-8", "replace")
            if isinstance(xmp, bytes):
                match = re.search(rb'tiff:Orientation(="|>)([0-9])', xmp)
                value = int(match[2]) if match else None
    except Exception:  # broken metadata must not reject an image that decodes
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _oriented(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    return (size[1], size[0]) if orientation >= 5 else size


@functools.cache
def _register_heif() -> None:
    """pillow-heif's opener, for HEIF only (Pillow reads AVIF itself), on first use."""
    import pillow_heif

    pillow_heif.register_heif_opener(**HEIF_OPENER_OPTIONS)


def _open(data: bytes, max_pixels: int) -> tuple[ImageFile.ImageFile, str]:
    """Open (header only) and check the pixel limit. Caller closes the image."""
    fmt = sniff_format(data)
    if fmt == "WEBP":
        # libwebp allocates the canvas when the file is opened: check the size first.
        size = _webp_canvas_size(data)
        if size is not None:
            _check_pixels(size, max_pixels)
    formats: tuple[str, ...] = _PILLOW_FORMATS
    if fmt == "HEIF":
        # libheif reads the boxes (ispe gives the size) on open and decodes only on load.
        _register_heif()
        formats = ("HEIF",)
    with _decoding(fmt, max_pixels):
        im = Image.open(io.BytesIO(data), formats=formats)
    actual = "JPEG" if im.format == "MPO" else im.format
    if actual not in ACCEPTED_FORMATS:  # cannot happen with formats=ACCEPTED_FORMATS
        im.close()
        raise ImageRejected(UNSUPPORTED_FORMAT, f"{im.format} images are not accepted")
    try:
        _check_pixels(im.size, max_pixels)
    except ImageRejected:
        im.close()
        raise
    return im, actual


def _source_info(fmt: str, size: tuple[int, int], info: Mapping[Any, Any]) -> SourceInfo:
    # HEIF: libheif has already applied irot/imir, and ``size`` is the displayed size.
    orientation = 1 if fmt == "HEIF" else _orientation(info)
    width, height = _oriented(size, orientation)
    return SourceInfo(format=fmt, width=width, height=height, orientation=orientation)


def inspect_image(data: bytes, *, max_pixels: int) -> SourceInfo:
    """Format and size from the header of a whole file; no pixel data is decoded.

    Raises ImageRejected: empty, not_an_image, unsupported_format, corrupt (the header
    cannot be read), too_many_pixels.
    """
    if sniff_format(data) == "SVG":
        document = check_svg(data, max_pixels=max_pixels)
        return _svg_info(document.width, document.height)
    im, fmt = _open(data, max_pixels)
    with im:
        return _source_info(fmt, im.size, im.info)


def _svg_info(width: float, height: float) -> SourceInfo:
    return SourceInfo(format="SVG", width=max(1, round(width)), height=max(1, round(height)))


def peek_image(prefix: bytes, *, max_pixels: int) -> SourceInfo | None:
    """inspect_image on the first bytes of a file (HEADER_BYTES of them is plenty).

    Raises ImageRejected for what the prefix settles (empty, not_an_image,
    unsupported_format, too_many_pixels); returns None when the header does not fit in
    the prefix or cannot be read from it (WebP and AVIF need the whole file), so that
    only the whole file can tell.
    """
    sniff_format(prefix)
    try:
        return inspect_image(prefix, max_pixels=max_pixels)
    except ImageRejected as exc:
        if exc.reason == CORRUPT:
            return None
        raise


def validate_image(data: bytes, *, max_pixels: int) -> SourceInfo:
    """inspect_image, then decode the (first frame's) pixels as cheaply as possible.

    A JPEG is decoded at 1/8 scale (every entropy-coded byte is still read, so truncation
    and broken structure show; flipped bits inside the entropy-coded data mostly do not,
    as JPEG has no checksum). A PNG's chunk CRCs are all checked, then it is decoded in
    full, as are the other formats. Raises what inspect_image raises, and corrupt for
    data that does not decode.
    """
    if sniff_format(data) == "SVG":
        document = check_svg(data, max_pixels=max_pixels)
        rasterize(document, _fit_inside((document.width, document.height), SVG_CHECK_SIDE))
        return _svg_info(document.width, document.height)
    im, fmt = _open(data, max_pixels)
    with im:
        size = im.size
        with _decoding(fmt, max_pixels):
            if fmt == "PNG":
                # verify() checks the CRC of every chunk (Pillow's decoder does not check
                # IDAT's, and zlib's own checksum is at the very end), and uses up the image.
                im.verify()
                im = Image.open(io.BytesIO(data), formats=("PNG",))
            if fmt == "JPEG":
                im.draft(None, (1, 1))
            im.load()
        return _source_info(fmt, size, im.info)


# --------------------------------------------------------------------------------------
# Geometry


@dataclass(frozen=True)
class _Geometry:
    """How to get from the stored image to the rendition. Sizes in stored orientation."""

    region: tuple[float, float]
    """Size of the source region to use (the whole image unless cover crops)."""
    resize_to: tuple[int, int]
    """Size that region is resized to."""
    canvas: tuple[int, int] | None
    """fill: the final size (displayed orientation) the resized image is centred on."""


def _clamp(value: float, high: int) -> int:
    return max(1, min(high, round(value)))


def _geometry(stored: tuple[int, int], orientation: int, rendition: Rendition) -> _Geometry:
    box_w, box_h = rendition.width, rendition.height
    src_w, src_h = _oriented(stored, orientation)  # as displayed
    canvas: tuple[int, int] | None = None
    if rendition.fit == "cover":
        scale = max(box_w / src_w, box_h / src_h)
        region = (min(src_w, box_w / scale), min(src_h, box_h / scale))
        size = (box_w, box_h)
    else:
        scale = min(box_w / src_w, box_h / src_h)
        if rendition.fit == "contain":
            scale = min(scale, 1.0)
        else:
            canvas = (box_w, box_h)
        region = (float(src_w), float(src_h))
        size = (_clamp(src_w * scale, box_w), _clamp(src_h * scale, box_h))
    if orientation >= 5:  # work in stored orientation; transpose the small result
        region = (region[1], region[0])
        size = (size[1], size[0])
    return _Geometry(region=region, resize_to=size, canvas=canvas)


def _draft_scale(stored: tuple[int, int], geometry: _Geometry) -> int:
    """The largest JPEG DCT scale (8, 4, 2; 1 for none) that still leaves its DRAFT_GAPS
    headroom over the target size, for the region as a share of the whole image."""
    need_x = stored[0] * geometry.resize_to[0] / geometry.region[0]
    need_y = stored[1] * geometry.resize_to[1] / geometry.region[1]
    for scale, gap in DRAFT_GAPS.items():
        if (
            max(1, int(need_x * gap)) <= stored[0] // scale
            and max(1, int(need_y * gap)) <= stored[1] // scale
        ):
            return scale
    return 1


# --------------------------------------------------------------------------------------
# Modes and colour


@functools.cache
def _image_cms() -> Any:
    """Pillow's LittleCMS binding, imported for the first CMYK image (the only ones that
    need it: not at cold start); None when Pillow was built without LittleCMS, and CMYK
    falls back to Pillow's formula."""
    try:
        from PIL import ImageCms
    except ImportError:
        return None
    return ImageCms


@functools.cache
def _srgb_profile() -> Any:
    return _image_cms().createProfile("sRGB")


def _icc_space(icc: bytes | None) -> bytes | None:
    """Colour space signature of an ICC profile: b'RGB ', b'GRAY', b'CMYK', ..."""
    return icc[16:20] if icc and len(icc) >= 128 else None


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    if icc and _icc_space(icc) == b"CMYK" and (cms := _image_cms()) is not None:
        try:
            source = cms.ImageCmsProfile(io.BytesIO(icc))
            converted: Image.Image | None = cms.profileToProfile(
                im,
                source,
                _srgb_profile(),
                renderingIntent=cms.Intent.PERCEPTUAL,
                outputMode="RGB",
            )
            if converted is not None:
                return converted
        except (cms.PyCMSError, OSError, ValueError, TypeError):
            pass  # a broken profile: fall back to the plain formula
    return im.convert("RGB")


def _sixteen_to_eight(im: Image.Image) -> Image.Image:
    """16-bit grey (I;16*, I) to L, scaled (65535 -> 255, rounded), not clipped."""
    wide = im if im.mode == "I" else im.convert("I")
    return wide.point(lambda v: v * (1 / 257) + 0.5).convert("L")


def _normalize(im: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    """To L, RGB or RGBA (the modes resizing and every encoder handle well).

    Returns the image and the ICC profile that still describes it.
    """
    mode = im.mode
    transparent = "transparency" in im.info
    if mode in ("RGBA", "RGB", "L"):
        if transparent and mode != "RGBA":  # tRNS colour key: make it an alpha channel
            return im.convert("RGBA"), icc
        return im, icc
    if mode == "1":
        return im.convert("L"), icc
    if mode in ("P", "PA"):
        return im.convert("RGBA" if im.has_transparency_data else "RGB"), icc
    if mode in ("LA", "La", "RGBa"):
        return im.convert("RGBA"), icc
    if mode == "CMYK":
        return _cmyk_to_rgb(im, icc), None
    if mode == "I" or mode.startswith("I;16"):
        return _sixteen_to_eight(im), icc
    return im.convert("RGBA" if im.has_transparency_data else "RGB"), icc


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA")


def _flatten(im: Image.Image) -> Image.Image:
    """Alpha onto white (for formats without alpha)."""
    background = Image.new("RGB", im.size, WHITE)
    background.paste(im.convert("RGB"), mask=im.getchannel("A"))
    return background


def _pad(im: Image.Image, canvas: tuple[int, int], alpha: bool) -> Image.Image:
    if im.size == canvas:
        return im
    if alpha:
        board = Image.new("RGBA", canvas, (0, 0, 0, 0))
        im = im.convert("RGBA")
    else:
        board = Image.new(im.mode, canvas, 255 if im.mode == "L" else WHITE)
    board.paste(im, ((canvas[0] - im.width) // 2, (canvas[1] - im.height) // 2))
    return board


def _for_encoder(im: Image.Image, out_format: str) -> Image.Image:
    if out_format == "JPEG":
        return _flatten(im) if _has_alpha(im) else im
    if out_format in ("WEBP", "AVIF") and im.mode == "L":
        return im.convert("RGB")
    return im


def _encode(im: Image.Image, out_format: str, quality: int, icc: bytes | None) -> bytes:
    im.info = {}  # nothing of the source's metadata (EXIF, XMP, comments) rides along
    options: dict[str, Any]
    if out_format == "JPEG":
        options = {**JPEG_OPTIONS, "quality": quality}
    elif out_format == "WEBP":
        options = {**WEBP_OPTIONS, "quality": quality}
    elif out_format == "AVIF":
        options = {**AVIF_OPTIONS, "quality": quality}
    elif out_format == "PNG":
        options = dict(PNG_OPTIONS)
    else:
        options = dict(GIF_OPTIONS)
    wanted_space = b"GRAY" if im.mode in ("L", "LA") else b"RGB "
    if icc and out_format != "GIF" and _icc_space(icc) == wanted_space:
        options["icc_profile"] = icc
    buffer = io.BytesIO()
    im.save(buffer, out_format, **options)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------
# Rendering


@dataclass
class _Decoded:
    image: Image.Image
    """Decoded and mode-normalised, still in stored orientation, maybe at reduced scale."""
    source: SourceInfo
    geometry: _Geometry
    box: tuple[float, float, float, float]
    """The geometry's region in the coordinates of ``image``."""
    icc: bytes | None


def _fit_inside(size: tuple[float, float], side: int) -> tuple[int, int]:
    scale = side / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _decode_svg(data: bytes, rendition: Rendition, max_pixels: int) -> _Decoded:
    """Rasterize at the size the rendition needs (the whole drawing, so that cover can
    crop it), never more than max_pixels; then it is an RGBA image like any other."""
    document = check_svg(data, max_pixels=max_pixels)
    declared = (document.width, document.height)
    planned = _geometry((max(1, round(declared[0])), max(1, round(declared[1]))), 1, rendition)
    scale = max(planned.resize_to[0] / planned.region[0], planned.resize_to[1] / planned.region[1])
    scale = min(scale, math.sqrt(max_pixels / (declared[0] * declared[1])))
    # Rounded down: resvg keeps the aspect ratio inside the size asked for, so the raster
    # is at most this, and within max_pixels.
    raster = rasterize(document, (max(1, math.floor(declared[0] * scale)),
                                  max(1, math.floor(declared[1] * scale))))  # fmt: skip
    geometry = _geometry(raster.size, 1, rendition)
    return _Decoded(
        image=raster,
        source=_svg_info(*declared),
        geometry=geometry,
        box=_cover_box(raster, raster.size, geometry.region, 1.0, rendition.gravity),
        icc=None,
    )


def _decode(data: bytes, rendition: Rendition, max_pixels: int) -> _Decoded:
    if sniff_format(data) == "SVG":
        return _decode_svg(data, rendition, max_pixels)
    # Not closed: closing would free the pixels; the file is a BytesIO, nothing leaks.
    im, fmt = _open(data, max_pixels)
    stored = im.size
    with _decoding(fmt, max_pixels):
        scale = 1.0
        if fmt == "JPEG":
            # JPEG metadata is all in the header: plan, then decode at a reduced scale.
            geometry = _geometry(stored, _orientation(im.info), rendition)
            dct_scale = _draft_scale(stored, geometry)
            if dct_scale > 1:
                # Pillow picks the largest scale s with stored // requested >= s: asking
                # for stored // dct_scale gets exactly dct_scale.
                request = (stored[0] // dct_scale, stored[1] // dct_scale)
                drafted = im.draft(None, request)
                if drafted is not None:
                    scale = drafted[1][2] / stored[0]
        im.load()
        # A PNG may carry its eXIf after the pixels: plan once everything is read.
        source = _source_info(fmt, stored, im.info)
        geometry = _geometry(stored, source.orientation, rendition)
        image, icc = _normalize(im, im.info.get("icc_profile") or None)
    return _Decoded(
        image=image,
        source=source,
        geometry=geometry,
        box=_cover_box(image, stored, geometry.region, scale, rendition.gravity),
        icc=icc,
    )


def _cover_box(
    image: Image.Image, stored: tuple[int, int], region: tuple[float, float], scale: float,
    gravity: Gravity,
) -> tuple[float, float, float, float]:  # fmt: skip
    """The region in the coordinates of ``image`` (decoded at ``scale``): centred, or
    where the rendition's gravity finds the detail or the subject."""
    if gravity == "center":
        return _centred_box(stored, region, scale)
    from .gravity import crop_offset  # only cover with a gravity needs the analysis

    window = (region[0] * scale, region[1] * scale)
    left, top = crop_offset(image, window, gravity)
    return (left, top, left + window[0], top + window[1])


def _centred_box(
    stored: tuple[int, int], region: tuple[float, float], scale: float = 1.0
) -> tuple[float, float, float, float]:
    """The region, centred in the stored image, in the coordinates of a decode at scale."""
    region_w, region_h = region[0] * scale, region[1] * scale
    left = (stored[0] * scale - region_w) / 2
    top = (stored[1] * scale - region_h) / 2
    return (left, top, left + region_w, top + region_h)


def _shape(
    image: Image.Image, box: tuple[float, float, float, float], geometry: _Geometry,
    orientation: int,
) -> Image.Image:  # fmt: skip
    """Resize the box of a decoded image to the geometry, then show it upright."""
    if image.size != geometry.resize_to or box != (0.0, 0.0, *map(float, image.size)):
        image = image.resize(
            geometry.resize_to, RESAMPLE, box=box, reducing_gap=RESIZE_REDUCING_GAP
        )
    transpose = _TRANSPOSE.get(orientation)
    return image.transpose(transpose) if transpose is not None else image


def decoded_size(data: bytes, rendition: Rendition, *, max_pixels: int) -> tuple[int, int]:
    """The size ``render`` decodes this source at for this rendition.

    Smaller than the stored size when a JPEG is much larger than the target (DCT scaling
    by 1/2, 1/4 or 1/8); the stored size otherwise.
    """
    return _decode(data, rendition, max_pixels).image.size


def render(
    data: bytes,
    rendition: Rendition,
    *,
    max_pixels: int,
    max_animation_pixels: int = MAX_ANIMATION_PIXELS,
    deadline: float | None = None,
) -> RenderedImage:
    """Make one rendition of an image: every frame of an animated GIF or WebP when the
    rendition is ``animated``, the first frame otherwise.

    ``deadline`` (a time.monotonic() value) bounds the frames of an animation: past it the
    upload is refused rather than left to time the function out. Without one, the same
    bytes and rendition always give the same output bytes.
    Raises ImageRejected for bad input (as validate_image); nothing else for bad bytes.
    """
    if rendition.animated:
        animation = _render_animation(data, rendition, max_pixels, max_animation_pixels,
                                      deadline)  # fmt: skip
        if animation is not None:
            return animation
    decoded = _decode(data, rendition, max_pixels)
    source, geometry = decoded.source, decoded.geometry
    out_format = output_format(rendition.format, source.format)
    with _decoding(source.format, max_pixels):
        image = _shape(decoded.image, decoded.box, geometry, source.orientation)
    if out_format == "JPEG" and _has_alpha(image):
        image = _flatten(image)
    if geometry.canvas is not None:
        image = _pad(image, geometry.canvas, alpha=out_format in _ALPHA_FORMATS)
    if rendition.watermark is not None:
        image = apply_watermark(image, packaged_mark(), rendition.watermark)
    image = _for_encoder(image, out_format)
    encoded = _encode(image, out_format, rendition.quality, decoded.icc)
    return _rendered(encoded, image.size, out_format)


def _rendered(encoded: bytes, size: tuple[int, int], out_format: str) -> RenderedImage:
    return RenderedImage(
        data=encoded,
        width=size[0],
        height=size[1],
        format=out_format,
        content_type=MEDIA_TYPES[out_format],
        ext=EXTENSIONS[out_format],
    )


# --------------------------------------------------------------------------------------
# Animation


def _render_animation(
    data: bytes, rendition: Rendition, max_pixels: int, max_animation_pixels: int,
    deadline: float | None,
) -> RenderedImage | None:  # fmt: skip
    """Every frame of an animated GIF or WebP, resized; None for a still source."""
    if sniff_format(data) not in _ANIMATED_SOURCES:
        return None
    im, fmt = _open(data, max_pixels)
    with _decoding(fmt, max_pixels):
        # GIF: Pillow counts frames by skipping through their headers, decoding nothing.
        frames = int(getattr(im, "n_frames", 1)) if fmt in _ANIMATED_SOURCES else 1
    if frames < 2:
        return None
    source = _source_info(fmt, im.size, im.info)
    geometry = _geometry(im.size, source.orientation, rendition)
    out_size = geometry.canvas or geometry.resize_to
    per_frame = max(im.size[0] * im.size[1], out_size[0] * out_size[1])
    if frames * per_frame > max_animation_pixels:
        raise ImageRejected(
            TOO_MANY_PIXELS,
            f"an animation of {frames:,} frames of {per_frame:,} pixels is "
            f"{frames * per_frame:,} pixels to render, more than the limit of "
            f"{max_animation_pixels:,}",
        )
    box = _centred_box(im.size, geometry.region)
    if rendition.gravity != "center":
        with _decoding(fmt, max_pixels):  # the first frame decides, for every frame
            box = _cover_box(im.convert("RGBA"), im.size, geometry.region, 1.0,
                             rendition.gravity)  # fmt: skip
    shaped: list[Image.Image] = []
    durations: list[int] = []
    with _decoding(fmt, max_pixels):
        for index in range(frames):
            im.seek(index)
            frame = _shape(im.convert("RGBA"), box, geometry, source.orientation)
            if geometry.canvas is not None:
                frame = _pad(frame, geometry.canvas, alpha=True)
            if rendition.watermark is not None:
                frame = apply_watermark(frame, packaged_mark(), rendition.watermark)
            shaped.append(frame)
            durations.append(int(im.info.get("duration") or 0))  # WebP sets it on load
            if deadline is not None and time.monotonic() > deadline:
                raise ImageRejected(
                    TOO_MANY_PIXELS,
                    f"the animation's {frames:,} frames could not be rendered in the time "
                    f"the function has ({index + 1:,} were); send fewer or smaller frames",
                )
    out_format = output_format(rendition.format, fmt)
    icc = im.info.get("icc_profile") or None
    loop = im.info.get("loop")
    encoded = _encode_animation(shaped, durations, loop, out_format, rendition.quality, icc)
    return _rendered(encoded, shaped[0].size, out_format)


def _transparent_somewhere(frame: Image.Image) -> bool:
    return frame.mode == "RGBA" and frame.getchannel("A").getextrema()[0] != 255


def _encode_animation(
    frames: list[Image.Image], durations: list[int], loop: int | None, out_format: str,
    quality: int, icc: bytes | None,
) -> bytes:  # fmt: skip
    """Animated WebP or GIF. A GIF without a loop count plays once: so does its WebP."""
    options: dict[str, Any] = {"save_all": True, "append_images": frames[1:],
                               "duration": durations}  # fmt: skip
    if out_format == "WEBP":
        options.update(WEBP_OPTIONS, quality=quality, loop=1 if loop is None else loop)
        if any(_transparent_somewhere(frame) for frame in frames):
            # libwebp may draw a transparent area as a sub-frame over a disposed one and
            # then leave the file's alpha flag off, so readers show it black: with every
            # frame a key frame, each frame carries its own alpha.
            options.update(kmin=0, kmax=1)
        if icc and _icc_space(icc) == b"RGB ":
            options["icc_profile"] = icc
    else:
        # Every frame is a whole canvas: dispose each one before the next is drawn, or
        # what a transparent pixel lets through would be the previous frame.
        options.update(GIF_OPTIONS, disposal=2)
        if loop is not None:
            options["loop"] = loop
    buffer = io.BytesIO()
    frames[0].save(buffer, out_format, **options)
    return buffer.getvalue()
