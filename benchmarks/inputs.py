"""Benchmark inputs, generated once per run (no binaries in the repository).

Photo-like on purpose: gradients, blotches, blurred and sharp shapes, thin lines,
mid-frequency texture and fine grain. Flat synthetic images compress to almost nothing
and decode and encode far faster than photos, which would flatter every contender.
Seeded, so every run measures the same bytes.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

import pillow_heif
from PIL import Image, ImageDraw, ImageFilter

from imagefn import imaging


@dataclass(frozen=True)
class Input:
    name: str
    description: str
    data: bytes
    size: tuple[int, int]
    format: str  # Pillow format name

    @property
    def megapixels(self) -> float:
        return self.size[0] * self.size[1] / 1e6

    def write(self, directory: Path) -> Path:
        path = directory / f"{self.name}.{imaging.EXTENSIONS[self.format]}"
        path.write_bytes(self.data)
        return path


def _noise(rng: random.Random, size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    bands = len(mode)
    return Image.frombytes(mode, size, rng.randbytes(size[0] * size[1] * bands))


def photo(size: tuple[int, int], seed: int) -> Image.Image:
    """An RGB image that compresses, decodes and resizes like a photograph."""
    rng = random.Random(seed)  # reproducible pixels, not secrets
    w, h = size
    ramp = Image.linear_gradient("L")
    base = Image.merge(
        "RGB",
        (
            ramp.resize(size),
            ramp.rotate(90).resize(size),
            Image.radial_gradient("L").resize(size),
        ),
    )
    # Low-frequency colour blotches (light, sky, out-of-focus background).
    blotch = _noise(rng, (max(2, w // 64), max(2, h // 64))).resize(size, Image.Resampling.BICUBIC)
    base = Image.blend(base, blotch, 0.35)
    draw = ImageDraw.Draw(base)
    for _ in range(60):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(w // 20, w // 4), y0 + rng.randrange(h // 20, h // 4)
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            tip = (x0 + rng.randrange(w // 8), y1)
            draw.polygon([(x0, y0), (x1, y0 + rng.randrange(h // 8)), tip], fill=colour)
    base = base.filter(ImageFilter.GaussianBlur(2))  # soft edges, as a lens gives
    draw = ImageDraw.Draw(base)
    for _ in range(200):  # sharp detail
        x0, y0 = rng.randrange(w), rng.randrange(h)
        end = (x0 + rng.randrange(-w // 6, w // 6), y0 + rng.randrange(-h // 6, h // 6))
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.line((x0, y0, *end), fill=colour, width=rng.randrange(1, 6))
    texture = _noise(rng, (w // 4, h // 4)).resize(size, Image.Resampling.BILINEAR)
    base = Image.blend(base, texture, 0.15)
    return Image.blend(base, _noise(rng, size), 0.08)  # sensor grain


def cutout(size: tuple[int, int], seed: int) -> Image.Image:
    """An RGBA product shot: a photo inside soft-edged shapes on a transparent background."""
    rng = random.Random(seed + 1)
    w, h = size
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    draw.ellipse((w // 8, h // 8, 7 * w // 8, 7 * h // 8), fill=255)
    for _ in range(8):
        x, y = rng.randrange(w), rng.randrange(h)
        r = rng.randrange(w // 16, w // 5)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=rng.choice((0, 160, 255)))
    mask = mask.filter(ImageFilter.GaussianBlur(6))
    image = photo(size, seed).convert("RGBA")
    image.putalpha(mask)
    return image


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def heic(image: Image.Image, quality: int) -> bytes:
    """HEIC written by pillow-heif's own API (the Pillow plugin is the core's to register)."""
    buffer = io.BytesIO()
    pillow_heif.from_pillow(image).save(buffer, quality=quality)
    return buffer.getvalue()


def animation(size: tuple[int, int], frames: int, seed: int) -> bytes:
    """An animated GIF: a photo-like background panned a little per frame, quantised to
    each frame's own palette, as screen captures and memes are."""
    rng = random.Random(seed)
    wide = photo((size[0] + frames * 4, size[1]), seed)
    shots = [
        wide.crop((i * 4, 0, i * 4 + size[0], size[1])).quantize(
            256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
        for i in range(frames)
    ]
    durations = [rng.choice((40, 60, 80)) for _ in shots]
    return _encode(shots[0], "GIF", save_all=True, append_images=shots[1:], duration=durations,
                   loop=0)  # fmt: skip


def generate(*, quick: bool = False) -> list[Input]:
    """The six inputs. ``quick`` changes nothing here: the same bytes, fewer repeats."""
    del quick
    made: list[Input] = []
    for name, description, size, seed, options in (
        ("jpeg-12mp", "12 MP photo-like JPEG, q90 baseline", (4000, 3000), 1, {}),
        ("jpeg-24mp", "24 MP photo-like JPEG, q90 baseline", (6000, 4000), 2, {}),
        ("jpeg-prog", "12 MP progressive JPEG, q90", (4000, 3000), 3, {"progressive": True}),
    ):
        data = _encode(photo(size, seed), "JPEG", quality=90, **options)
        made.append(Input(name, description, data, size, "JPEG"))
    size = (2448, 1632)
    data = _encode(cutout(size, 4), "PNG")
    made.append(Input("png-alpha", "4 MP photo-like PNG with alpha (RGBA)", data, size, "PNG"))
    size = (4032, 3024)
    data = heic(photo(size, 5), quality=80)
    made.append(Input("heic-12mp", "12 MP photo-like HEIC (iPhone size), q80", data, size, "HEIF"))
    size = (480, 360)
    data = animation(size, 48, 6)
    made.append(Input("gif-anim", "animated GIF 480x360, 48 frames", data, size, "GIF"))
    return made
