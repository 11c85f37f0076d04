"""Generated scenes with an off-centre subject, for smart crop (gravity) tests.

Each scene is 480x240 (or 240x480) with one subject of 60-100 px placed so that at least
half of it lies outside the middle 240 px: a centred square crop cannot keep it whole.
Backgrounds are muted (a gradient with a little grain, a blurred grey texture, or two
soft bands); subjects are what photos are cropped for: a face (skin tones), a flower
(saturated petals) or an object with fine detail. Deterministic per seed.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw, ImageFilter

LONG, SHORT = 480, 240
SKIN_TONES = ((224, 172, 138), (198, 134, 99), (141, 85, 54), (241, 194, 167), (170, 110, 80))


@dataclass(frozen=True)
class Scene:
    image: Image.Image
    subject: tuple[int, int, int, int]
    """Bounding box of the subject (left, top, right, bottom), right/bottom exclusive."""
    kind: str
    horizontal: bool
    """The crop window slides along x (a landscape scene) or y (a portrait one)."""

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.image.save(buffer, "PNG")
        return buffer.getvalue()


def _background(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    style = rng.choice(("gradient", "texture", "bands"))
    base = tuple(rng.randrange(90, 170) for _ in range(3))
    other = tuple(max(0, min(255, c + rng.randrange(-40, 41))) for c in base)
    if style == "texture":
        grain = Image.effect_noise(size, 40).filter(ImageFilter.GaussianBlur(1.2))
        tint = Image.new("RGB", size, base)  # type: ignore[arg-type]
        return ImageChops.blend(tint, Image.merge("RGB", (grain, grain, grain)), 0.35)
    gradient = Image.linear_gradient("L").rotate(rng.choice((0, 90))).resize(size)
    im = Image.composite(
        Image.new("RGB", size, base),  # type: ignore[arg-type]
        Image.new("RGB", size, other),  # type: ignore[arg-type]
        gradient,
    )
    if style == "bands":
        ImageDraw.Draw(im).rectangle((0, size[1] * 2 // 3, size[0], size[1]), fill=other)
    grain = Image.effect_noise(size, 12)
    return ImageChops.add(im, Image.merge("RGB", (grain, grain, grain)), scale=2.0, offset=-64)


def _face(draw: ImageDraw.ImageDraw, rng: random.Random, box: tuple[int, int, int, int]) -> None:
    left, t, r, b = box
    w, h = r - left, b - t
    skin = rng.choice(SKIN_TONES)
    draw.ellipse((left, t + h // 6, r - 1, b - 1), fill=skin)
    draw.chord((left, t, r - 1, t + h // 2), 180, 360, fill=(40, 28, 20))  # hair
    for ex in (left + w // 3, left + 2 * w // 3):
        draw.ellipse((ex - w // 12, t + h // 2 - h // 14, ex + w // 12, t + h // 2 + h // 14),
                     fill=(250, 250, 250))  # fmt: skip
        draw.ellipse((ex - w // 30, t + h // 2 - h // 30, ex + w // 30, t + h // 2 + h // 30),
                     fill=(30, 20, 10))  # fmt: skip
    draw.arc((left + w // 3, t + 2 * h // 3, r - w // 3, b - h // 8), 20, 160, fill=(120, 30, 30),
             width=3)  # fmt: skip


def _flower(draw: ImageDraw.ImageDraw, rng: random.Random, box: tuple[int, int, int, int]) -> None:
    left, t, r, b = box
    cx, cy, radius = (left + r) // 2, (t + b) // 2, (r - left) // 2
    petal = rng.choice(((230, 30, 60), (250, 200, 0), (150, 40, 220), (250, 120, 0)))
    for i in range(8):
        dx = [0, 1, 1, 1, 0, -1, -1, -1][i] * radius // 2
        dy = [-1, -1, 0, 1, 1, 1, 0, -1][i] * radius // 2
        draw.ellipse((cx + dx - radius // 2, cy + dy - radius // 2,
                      cx + dx + radius // 2, cy + dy + radius // 2), fill=petal)  # fmt: skip
    draw.ellipse((cx - radius // 3, cy - radius // 3, cx + radius // 3, cy + radius // 3),
                 fill=(90, 50, 10))  # fmt: skip


def _gadget(draw: ImageDraw.ImageDraw, rng: random.Random, box: tuple[int, int, int, int]) -> None:
    left, t, r, b = box
    colour = rng.choice(((20, 90, 200), (0, 160, 80), (200, 40, 40)))
    draw.rounded_rectangle((left, t, r - 1, b - 1), radius=8, fill=colour, outline=(10, 10, 10),
                           width=3)  # fmt: skip
    for y in range(t + 8, b - 8, 6):  # fine detail: a grille
        draw.line((left + 8, y, r - 9, y), fill=(240, 240, 240), width=2)


SUBJECTS = {"face": _face, "flower": _flower, "gadget": _gadget}


def scene(seed: int) -> Scene:
    """One scene; even seeds are landscape, odd ones portrait."""
    rng = random.Random(seed)
    horizontal = seed % 2 == 0
    kind = rng.choice(sorted(SUBJECTS))
    side = rng.randrange(60, 101)
    # Centre of the subject on the long axis: within the outer 120 px of either end,
    # so at least half of it is outside the middle window [120, 360).
    along = rng.randrange(side // 2, (LONG - SHORT) // 2 + 1)
    if rng.random() < 0.5:
        along = LONG - along
    across = rng.randrange(side // 2, SHORT - side // 2 + 1)
    start = along - side // 2
    cross = across - side // 2
    bbox = (start, cross, start + side, cross + side)
    im = _background(rng, (LONG, SHORT))
    SUBJECTS[kind](ImageDraw.Draw(im), rng, bbox)
    if not horizontal:
        im = im.transpose(Image.Transpose.TRANSPOSE)
        bbox = (bbox[1], bbox[0], bbox[3], bbox[2])
    return Scene(image=im, subject=bbox, kind=kind, horizontal=horizontal)


def scenes(count: int, first_seed: int = 1000) -> list[Scene]:
    return [scene(first_seed + i) for i in range(count)]


def window_of(crop: Image.Image, source: Image.Image, horizontal: bool) -> int:
    """Where ``crop`` (a same-scale window of ``source``) was taken: its offset along the
    free axis, found by exact comparison. Raises if it is no window of the source."""
    crop, source = crop.convert("RGB"), source.convert("RGB")
    if not horizontal:  # compare columns as rows
        crop = crop.transpose(Image.Transpose.TRANSPOSE)
        source = source.transpose(Image.Transpose.TRANSPOSE)
    first_row = crop.crop((0, 0, crop.width, 1)).tobytes()
    for offset in range(source.width - crop.width + 1):
        if source.crop((offset, 0, offset + crop.width, 1)).tobytes() != first_row:
            continue
        candidate = source.crop((offset, 0, offset + crop.width, crop.height))
        if ImageChops.difference(candidate, crop).getbbox() is None:
            return offset
    raise AssertionError("the rendition is not a window of the source")


def keeps_subject(scene: Scene, offset: int) -> bool:
    """Whether the window at ``offset`` holds the whole subject."""
    left, t, r, b = scene.subject
    if scene.horizontal:
        return offset <= left and r <= offset + SHORT
    return offset <= t and b <= offset + SHORT
