"""Bad (and a few good) inputs at scale, generated on the fly: nothing downloaded or committed.

Each `Case` is a file as a user might upload it (its name has an accepted image
extension, so the S3 suffix filter lets it through) and the outcomes it may have:
``"ok"`` (every rendition made) and/or reason codes (imagefn.errors). Most cases have
exactly one acceptable outcome. Bit flips have several: a flipped bit in JPEG entropy
data decodes to slightly different pixels (JPEG has no checksum), one in a PNG chunk is
caught by its CRC, one in a header may change a size or make the format unreadable;
what matters is that the answer is renditions or a reason code, never a traceback.

`build_corpus()` is deterministic: the same seed gives the same bytes.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Final

from PIL import Image, ImageChops, ImageDraw

from imagefn.errors import REASONS
from imagepipe.local.samples import photo
from tests.functions import images

OK: Final = "ok"
ANY: Final[frozenset[str]] = frozenset({OK, *REASONS} - {"bad_event", "too_many_bytes"})
"""What a damaged file may legitimately become (bad_event and too_many_bytes cannot come
from the bytes of a small file)."""

SEED: Final = 20240601
CUTS: Final = (0.02, 0.25, 0.5, 0.75, 0.95)
"""Where truncated files are cut, as a share of their length (plus a cut right after the
magic number, see `_truncations`)."""
FLIPS_PER_FORMAT: Final = 8
"""Bit flips per format: 2 in the first 64 bytes (headers), the rest anywhere."""
FRAMES: Final = 300
"""Frames of the animated GIF and WebP."""
MANY_FRAMES: Final = 3000
"""Frames of the long animated GIF."""
WATERMARK_TOO_LARGE: Final[tuple[dict[str, object], ...]] = (
    {"name": "mark-shrunk", "width": 40, "height": 40, "fit": "cover", "format": "png",
     "watermark": {"scale": 1.0, "margin": 2, "minWidth": 0, "opacity": 1.0}},
    {"name": "mark-skipped", "width": 12, "height": 12, "fit": "cover", "format": "png",
     "watermark": {"scale": 1.0, "margin": 5, "minWidth": 0}},
)  # fmt: skip
"""The packaged mark is 480x120: far larger than these renditions."""
LIMIT_PIXELS: Final = 40_000_000
"""The default maxInputPixels; the at-the-limit inputs have exactly this many."""


@dataclass(frozen=True)
class Case:
    """One input: its upload name, how it was made, what may become of it."""

    name: str
    """File name with an accepted extension (what the upload's key ends with)."""
    group: str
    """The kind of input, for the report: truncated, bit flip, bomb, ..."""
    description: str
    make: Callable[[], bytes] = field(repr=False, compare=False)
    expect: frozenset[str] = frozenset({OK})
    renditions: tuple[dict[str, object], ...] = field(default=(), compare=False)
    """Renditions the core runs for this case besides the stack's (a watermark larger
    than its rendition); the local stack runs its own only."""

    @property
    def exact(self) -> str | None:
        """The one acceptable outcome, if there is only one."""
        return next(iter(self.expect)) if len(self.expect) == 1 else None


# --------------------------------------------------------------------------------------
# Building blocks


def _encode(im: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt, **options)
    return buffer.getvalue()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _png(width: int, height: int, bit_depth: int, colour_type: int, rows: Iterable[bytes]) -> bytes:
    """A PNG from raw scanlines (each without its filter byte; filter 0 is added)."""
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(b"\0" + row) for row in rows]
    parts.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


def base_jpeg() -> bytes:
    return _encode(photo(320, 240, seed=1), "JPEG", quality=85)


def base_png() -> bytes:
    return _encode(photo(200, 150, seed=2), "PNG")


def base_gif() -> bytes:
    return _encode(photo(200, 150, seed=3).quantize(64), "GIF")


def base_webp() -> bytes:
    return _encode(photo(320, 240, seed=4), "WEBP", quality=80)


def base_heif() -> bytes:
    return images.heif(photo(320, 240, seed=9), quality=80)


BASES: Final[dict[str, tuple[str, Callable[[], bytes]]]] = {
    "jpeg": ("jpg", base_jpeg),
    "png": ("png", base_png),
    "gif": ("gif", base_gif),
    "webp": ("webp", base_webp),
    "heif": ("heic", base_heif),
}


def truncated(data: bytes, keep: float) -> bytes:
    return data[: max(1, int(len(data) * keep))]


def flipped(data: bytes, position: int, bit: int) -> bytes:
    out = bytearray(data)
    out[position] ^= 1 << bit
    return bytes(out)


# --------------------------------------------------------------------------------------
# Inputs that are not images, whatever their name says


def pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def svg() -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="3000">'
        b'<rect width="100%" height="100%" fill="red"/></svg>\n'
    )


_SVG_OPEN: Final = b'<svg xmlns="http://www.w3.org/2000/svg" '


def svg_external_reference() -> bytes:
    """An SVG whose image is on a web server (and a CSS url() on another): refused unfetched."""
    return (
        _SVG_OPEN + b'width="300" height="200"><image href="http://127.0.0.1:9/pixel.png" '
        b'width="300" height="200"/><rect width="10" height="10" '
        b'style="fill: url(file:///etc/passwd#x)"/></svg>'
    )


def svg_billion_laughs() -> bytes:
    """Ten levels of ten entities: 10^9 'lol's if a parser expanded them."""
    entities = b'<!ENTITY lol0 "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10)
    )
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE svg [' + entities + b"]>\n"
        + _SVG_OPEN + b'width="10" height="10"><text>&lol9;</text></svg>'
    )  # fmt: skip


def svg_huge_viewbox() -> bytes:
    return _SVG_OPEN + b'viewBox="0 0 100000 100000"><circle cx="50000" cy="50000" r="9"/></svg>'


def html() -> bytes:
    return (
        b"<!DOCTYPE html>\n<html><head><title>photo</title></head><body><img src=x></body></html>\n"
    )


def text() -> bytes:
    return "Notes from the trip: bring the charger, café at 9.\n".encode() * 40


# --------------------------------------------------------------------------------------
# Bombs: headers that claim, or data that decodes to, far more pixels than allowed


def png_claiming(width: int, height: int) -> bytes:
    """Only a header's worth of PNG: IHDR says width x height, the data is a few bytes."""
    return images.png_header(width, height)


def png_that_decodes_huge(side: int = 20_000) -> bytes:
    """A complete, valid 1-bit grey PNG of side x side (400 Mpx at 20000): all zeros, so
    it compresses to ~60 kB, and decoding it would allocate side*side bytes."""
    row = bytes((side + 7) // 8)
    return _png(side, side, 1, 0, (row for _ in range(side)))


def gif_with_huge_screen(side: int = 20_000) -> bytes:
    """A GIF whose logical screen is side x side, with one 1x1 frame: Pillow gives it the
    screen's size and would allocate the whole canvas to decode it."""
    header = b"GIF89a" + struct.pack("<HHBBB", side, side, 0x80, 0, 0)  # 2-colour table
    palette = b"\0\0\0\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
    lzw = b"\x02\x02\x44\x01\x00"  # min code size 2, one sub-block: clear, 0, end
    return header + palette + frame + lzw + b"\x3b"


def webp_claiming(side: int = 16_383) -> bytes:
    return images.webp_vp8x_header(side, side) + b"\0" * 64


def heif_hvcc_garbage() -> bytes:
    """A HEIC whose hvcC box (the HEVC decoder's parameter sets) is overwritten."""
    data = bytearray(base_heif())
    at = data.index(b"hvcC") + 4
    data[at : at + 32] = random.Random(SEED).randbytes(32)
    return bytes(data)


def heif_mdat_garbage() -> bytes:
    """A HEIC whose coded image data (the second half of the file) is random bytes."""
    data = bytearray(base_heif())
    half = len(data) // 2
    data[half:] = random.Random(SEED).randbytes(len(data) - half)
    return bytes(data)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG whose SOF0 says width x height (the data is for the small one)."""
    data = bytearray(base_jpeg())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


# --------------------------------------------------------------------------------------
# Metadata and colour oddities


def jpeg_with_app1(payload: bytes) -> bytes:
    """A valid JPEG with an APP1 segment of `payload` right after SOI."""
    data = base_jpeg()
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return data[:2] + segment + data[2:]


def jpeg_malformed_exif() -> bytes:
    """EXIF whose first IFD is said to be 4 GB into a 40-byte block."""
    tiff = b"II*\0" + struct.pack("<I", 0xFFFFFFF0) + b"\xde\xad\xbe\xef" * 8
    return jpeg_with_app1(b"Exif\0\0" + tiff)


def jpeg_exif_too_many_entries() -> bytes:
    """EXIF whose IFD claims 65535 entries, then ends."""
    tiff = b"MM\0*" + struct.pack(">I", 8) + struct.pack(">H", 0xFFFF) + b"\0\x01\0\x03" * 3
    return jpeg_with_app1(b"Exif\0\0" + tiff)


def jpeg_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return _encode(photo(320, 240, seed=5), "JPEG", quality=85, exif=exif.tobytes())


def cmyk_jpeg() -> bytes:
    """Pillow writes CMYK JPEGs with an Adobe APP14 marker, transform 0 (no transform)."""
    return _encode(photo(320, 240, seed=6).convert("CMYK"), "JPEG", quality=90)


def ycck_jpeg() -> bytes:
    """A genuine YCCK JPEG. Pillow cannot write one, so: the CMYK image's C, M, Y are
    turned into Y, Cb, Cr the way libjpeg's YCCK decoder undoes it (YCbCr of 255-C,
    255-M, 255-Y; K kept), written as a 4-channel JPEG, and the Adobe APP14 transform byte
    patched from 0 to 2 (YCCK). It decodes to the original CMYK within JPEG's error."""
    cmyk = photo(320, 240, seed=7).convert("CMYK")
    c, m, y, k = cmyk.split()
    rgb = Image.merge("RGB", [ImageChops.invert(band) for band in (c, m, y)])
    stored = Image.merge("CMYK", [*rgb.convert("YCbCr").split(), k])
    data = bytearray(_encode(stored, "JPEG", quality=92))
    adobe = data.index(b"Adobe")
    transform = adobe + 11  # "Adobe", version (2), flags0 (2), flags1 (2), transform (1)
    if data[transform] != 0:
        raise AssertionError("expected Pillow's Adobe marker with transform 0")
    data[transform] = 2
    return bytes(data)


def png16_grey() -> bytes:
    gradient = Image.linear_gradient("L").resize((256, 128)).convert("I")
    return _encode(gradient.point(lambda v: v * 257).convert("I;16"), "PNG")


def png16_rgb(alpha: bool = False) -> bytes:
    """16 bits per channel RGB (or RGBA), which Pillow reads but cannot write."""
    width, height = 160, 96
    channels = 4 if alpha else 3
    rows = []
    for y in range(height):
        row = bytearray()
        for x in range(width):
            values = [x * 409, y * 683, (x + y) * 256, 65535 - x * 300][:channels]
            row += struct.pack(f">{channels}H", *(v & 0xFFFF for v in values))
        rows.append(bytes(row))
    return _png(width, height, 16, 6 if alpha else 2, rows)


def palette_png() -> bytes:
    im = photo(200, 150, seed=8).quantize(32)
    return _encode(im, "PNG", transparency=0)


def tiff_1bit() -> bytes:
    im = Image.new("1", (64, 64), 0)
    ImageDraw.Draw(im).ellipse((8, 8, 56, 56), fill=1)
    return _encode(im, "TIFF")


def animated(fmt: str, frames: int = FRAMES) -> bytes:
    rng = random.Random(SEED)  # reproducible drawings
    images_ = []
    for _ in range(frames):
        frame = Image.new("RGB", (96, 64), tuple(rng.randrange(256) for _ in range(3)))
        ImageDraw.Draw(frame).rectangle(
            (rng.randrange(48), rng.randrange(32), 60, 50), fill=(255, 255, 255)
        )
        images_.append(frame)
    options: dict[str, object] = {"save_all": True, "append_images": images_[1:], "duration": 40}
    if fmt == "WEBP":
        options.update(quality=50, method=0)
    return _encode(images_[0], fmt, **options)


def at_limit_jpeg() -> bytes:
    """8000x5000, exactly the default pixel limit: the largest JPEG the pipeline takes."""
    gradient = Image.linear_gradient("L").resize((8000, 5000))
    im = Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                             Image.new("L", (8000, 5000), 90)))  # fmt: skip
    return _encode(im, "JPEG", quality=80)


def at_limit_png() -> bytes:
    """8000x5000 RGBA, exactly the default pixel limit: decoded in full, 160 MB of pixels."""
    gradient = Image.linear_gradient("L").resize((8000, 5000))
    im = Image.merge("RGBA", (gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                              Image.new("L", (8000, 5000), 90), gradient))  # fmt: skip
    return _encode(im, "PNG", compress_level=1)


# --------------------------------------------------------------------------------------
# The corpus


def _prefix(make: Callable[[], bytes], length: int) -> bytes:
    return make()[:length]


def _truncate(make: Callable[[], bytes], keep: float) -> bytes:
    return truncated(make(), keep)


def _flip(make: Callable[[], bytes], position: int, bit: int) -> bytes:
    return flipped(make(), position, bit)


def _truncations() -> list[Case]:
    cases = []
    for fmt, (ext, make) in BASES.items():
        magic_length = {"jpeg": 3, "png": 8, "gif": 6, "webp": 12, "heif": 12}[fmt]
        cases.append(
            Case(
                f"truncated-{fmt}-magic.{ext}",
                "truncated",
                f"{fmt.upper()} cut right after its magic number ({magic_length} bytes)",
                partial(_prefix, make, magic_length),
                frozenset({"corrupt"}),
            )
        )
        for keep in CUTS:
            percent = round(keep * 100)
            cases.append(
                Case(
                    f"truncated-{fmt}-{percent:02d}.{ext}",
                    "truncated",
                    f"{fmt.upper()} cut at {percent}% of its length",
                    partial(_truncate, make, keep),
                    frozenset({"corrupt"}),
                )
            )
    return cases


def _bit_flips() -> list[Case]:
    rng = random.Random(SEED)  # reproducible damage
    cases = []
    for fmt, (ext, make) in BASES.items():
        length = len(make())
        positions = [rng.randrange(64) for _ in range(2)]
        positions += [rng.randrange(64, length) for _ in range(FLIPS_PER_FORMAT - 2)]
        for position in positions:
            bit = rng.randrange(8)
            cases.append(
                Case(
                    f"bitflip-{fmt}-{position:06d}-{bit}.{ext}",
                    "bit flip",
                    f"{fmt.upper()} with bit {bit} of byte {position} (of {length}) flipped",
                    partial(_flip, make, position, bit),
                    ANY,
                )
            )
    return cases


def build_corpus(*, include_at_limit: bool = True) -> list[Case]:
    """Every case. `include_at_limit` adds the two 40-megapixel inputs (a few seconds
    each to make and to render: the memory figures need them, quick runs may not)."""

    def case(name: str, group: str, description: str, make: Callable[[], bytes],
             *expect: str) -> Case:  # fmt: skip
        return Case(name, group, description, make, frozenset(expect or {OK}))

    cases = [
        case("control-jpeg.jpg", "control", "valid JPEG 320x240", base_jpeg),
        case("control-png.png", "control", "valid PNG 200x150", base_png),
        case("control-gif.gif", "control", "valid GIF 200x150, 64 colours", base_gif),
        case("control-webp.webp", "control", "valid WebP 320x240", base_webp),
        case("control-heic.heic", "control", "valid HEIC 320x240", base_heif),
        case("empty.jpg", "not an image", "zero bytes", lambda: b"", "empty"),
        case("notes.jpg", "not an image", "UTF-8 text", text, "not_an_image"),
        case("page.png", "not an image", "HTML document", html, "not_an_image"),
        case("document.jpg", "not an image", "PDF document", pdf, "not_an_image"),
        case("archive.webp", "not an image", "ZIP archive", images.zip_bytes, "not_an_image"),
        case("drawing.png", "svg", "SVG drawing 4000x3000, named .png", svg),
        case(
            "svg-external.svg",
            "svg",
            "SVG with an <image> on http://127.0.0.1 and a CSS url(file://...)",
            svg_external_reference,
            "unsafe_svg",
        ),
        case(
            "svg-laughs.svg",
            "svg",
            "SVG with a billion-laughs DTD (10 levels of 10 entities)",
            svg_billion_laughs,
            "unsafe_svg",
        ),
        case(
            "svg-viewbox.svg",
            "svg",
            "SVG with a 100000x100000 viewBox and no width or height",
            svg_huge_viewbox,
            "too_many_pixels",
        ),
        case("scan.gif", "unsupported", "1-bit TIFF", tiff_1bit, "unsupported_format"),
        case(
            "claims-100000.png",
            "bomb",
            "PNG header claiming 100000x100000, 57 bytes",
            lambda: png_claiming(100_000, 100_000),
            "too_many_pixels",
        ),
        case(
            "decodes-20000.png",
            "bomb",
            "valid 1-bit PNG, 20000x20000 (400 Mpx) in ~60 kB",
            png_that_decodes_huge,
            "too_many_pixels",
        ),
        case(
            "screen-20000.gif",
            "bomb",
            "GIF with a 20000x20000 screen and one 1x1 frame",
            gif_with_huge_screen,
            "too_many_pixels",
        ),
        case(
            "claims-16383.webp",
            "bomb",
            "WebP VP8X header claiming 16383x16383",
            webp_claiming,
            "too_many_pixels",
        ),
        case(
            "claims-30000.jpg",
            "bomb",
            "JPEG whose SOF0 claims 30000x30000",
            lambda: jpeg_claiming(30_000, 30_000),
            "too_many_pixels",
        ),
        case(
            "claims-20000x10000.heic",
            "bomb",
            "HEIC whose ispe box claims 20000x10000 (200 Mpx)",
            lambda: images.heif_claiming(20_000, 10_000),
            "too_many_pixels",
        ),
        case(
            "hvcc-garbage.heic",
            "corrupt",
            "HEIC with its hvcC decoder configuration overwritten",
            heif_hvcc_garbage,
            "corrupt",
        ),
        case(
            "mdat-garbage.heic",
            "corrupt",
            "HEIC whose coded data is random bytes from half way (HEVC, like JPEG, has "
            "no checksum: libde265 may decode it to damaged pixels)",
            heif_mdat_garbage,
            "corrupt",
            OK,
        ),
        case(
            "exif-offset.jpg",
            "metadata",
            "JPEG, EXIF IFD offset far past the block",
            jpeg_malformed_exif,
        ),
        case(
            "exif-entries.jpg",
            "metadata",
            "JPEG, EXIF IFD claiming 65535 entries",
            jpeg_exif_too_many_entries,
        ),
        case(
            "orientation-9.jpg",
            "metadata",
            "JPEG, EXIF orientation 9 (valid: 1-8)",
            lambda: jpeg_orientation(9),
        ),
        case("cmyk.jpg", "colour", "CMYK JPEG (Adobe APP14, transform 0)", cmyk_jpeg),
        case("ycck.jpg", "colour", "YCCK JPEG (Adobe APP14, transform 2)", ycck_jpeg),
        case("grey16.png", "colour", "16-bit greyscale PNG", png16_grey),
        case("rgb48.png", "colour", "16 bits per channel RGB PNG", png16_rgb),
        case("rgba64.png", "colour", "16 bits per channel RGBA PNG", lambda: png16_rgb(alpha=True)),
        case("palette.png", "colour", "palette PNG, 32 colours, index 0 transparent", palette_png),
        case(
            "animated-gif.gif",
            "animation",
            f"animated GIF, {FRAMES} frames",
            lambda: animated("GIF"),
        ),
        case(
            "animated-webp.webp",
            "animation",
            f"animated WebP, {FRAMES} frames",
            lambda: animated("WEBP"),
        ),
        case(
            "frames-3000.gif",
            "animation",
            f"animated GIF, {MANY_FRAMES} frames (still renditions: the first one)",
            lambda: animated("GIF", MANY_FRAMES),
        ),
        Case(
            "watermark-large.png",
            "watermark",
            "valid PNG, plus renditions whose watermark is larger than they are "
            "(shrunk to fit; skipped where it cannot fit)",
            base_png,
            renditions=WATERMARK_TOO_LARGE,
        ),
        *_truncations(),
        *_bit_flips(),
    ]
    if include_at_limit:
        cases += [
            case(
                "limit-jpeg.jpg",
                "at the limit",
                "JPEG 8000x5000 (40 Mpx, the limit)",
                at_limit_jpeg,
            ),
            case(
                "limit-png.png",
                "at the limit",
                "RGBA PNG 8000x5000 (40 Mpx, the limit)",
                at_limit_png,
            ),
        ]
    # Unique without their extension too: a rendition's key is <name>/<key stem>.<ext>,
    # so photo.jpg and photo.png would write (and overwrite) the same renditions.
    stems = [c.name.rpartition(".")[0] for c in cases]
    assert len(set(stems)) == len(stems), "case names must differ before the extension"
    return cases


def write_corpus(directory: Path, cases: Iterable[Case]) -> dict[str, Path]:
    """Write each case's bytes to directory/<name>; returns name -> path."""
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for case in cases:
        path = directory / case.name
        path.write_bytes(case.make())
        written[case.name] = path
    return written
