"""Sample uploads for the demo and the end-to-end tests: good images and bad files.

The photos are drawn to look like photos to an encoder (gradients, shapes, grain), so
JPEG and WebP sizes are realistic; flat colours would compress to almost nothing.
Each sample says what should become of it: renditions, or the dead-letter queue with
a reason code (see imagefn.errors).
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from dataclasses import dataclass

from PIL import ExifTags, Image, ImageDraw, ImageFilter


@dataclass(frozen=True)
class Sample:
    """A file to upload, its name under the upload prefix, and its expected outcome:
    renditions (`reason` None), or the dead-letter queue with that reason code."""

    name: str
    data: bytes
    reason: str | None = None

    @property
    def good(self) -> bool:
        return self.reason is None


def photo(width: int, height: int, *, seed: int = 0) -> Image.Image:
    """Something a camera could have taken: sky and ground gradients, blurred shapes, grain."""
    rng = random.Random(seed)  # noqa: S311 - reproducible drawings, not secrets
    sky = Image.linear_gradient("L").resize((width, height))
    hue = Image.radial_gradient("L").resize((width, height))
    base = Image.merge(
        "RGB",
        (
            hue.point(lambda v: 40 + v // 2),
            sky.point(lambda v: 90 + v // 3),
            sky.point(lambda v: 230 - v // 2),
        ),
    )
    draw = ImageDraw.Draw(base)
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height // 3, height)
        r = rng.randrange(max(4, width // 30), max(8, width // 6))
        colour = tuple(rng.randrange(30, 220) for _ in range(3))
        draw.ellipse((x - r, y - r // 2, x + r, y + r // 2), fill=colour)
    base = base.filter(ImageFilter.GaussianBlur(radius=max(1, width // 400)))
    grain = Image.effect_noise((width, height), 18).convert("RGB")
    return Image.blend(base, grain, 0.12)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg(width: int, height: int, *, seed: int = 0, quality: int = 88) -> bytes:
    return encode(photo(width, height, seed=seed), "JPEG", quality=quality)


def rotated_jpeg(width: int, height: int, orientation: int = 6, *, seed: int = 0) -> bytes:
    """A JPEG stored `width` x `height` whose EXIF says to rotate it (6: 90 degrees CW)."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    return encode(photo(width, height, seed=seed), "JPEG", quality=88, exif=exif.tobytes())


def transparent_png(width: int, height: int, *, seed: int = 0) -> bytes:
    """A photo fading out from its middle (opaque) to its corners (transparent)."""
    image = photo(width, height, seed=seed)
    image.putalpha(Image.radial_gradient("L").resize((width, height)).point(lambda v: 255 - v))
    return encode(image, "PNG", optimize=False)


def webp(width: int, height: int, *, seed: int = 0) -> bytes:
    return encode(photo(width, height, seed=seed), "WEBP", quality=85)


def truncated(data: bytes, keep: float = 0.6) -> bytes:
    """The first part of a file, as an interrupted upload leaves it."""
    return data[: int(len(data) * keep)]


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares width x height pixels (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 1024)  # far fewer rows than declared
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def demo_samples() -> list[Sample]:
    """What `imagepipe local demo` uploads: every kind of good image, and bad files."""
    landscape = jpeg(3000, 2000, seed=1)
    return [
        Sample("landscape.jpg", landscape),
        Sample("portrait.jpg", jpeg(1200, 1800, seed=2)),
        Sample("small.jpg", jpeg(320, 240, seed=3)),  # smaller than the renditions
        Sample("logo.png", transparent_png(900, 900, seed=4)),
        Sample("rotated.jpg", rotated_jpeg(1600, 1200, seed=5)),  # EXIF: shown 1200x1600
        Sample("sunset.webp", webp(2000, 1000, seed=6)),
        # A key with spaces, '+', '%' and unicode.
        Sample("holiday 2024/plage + soleil 100% été 東京.jpg", jpeg(1024, 768, seed=7)),
        Sample("truncated.jpg", truncated(landscape), "corrupt"),  # cut off at 60%
        Sample("notes.jpg", b"meeting notes, not a picture\n" * 20, "not_an_image"),
        Sample("bomb.png", png_bomb(), "too_many_pixels"),  # declares 10 gigapixels
        Sample("empty.png", b"", "empty"),
    ]
