"""The watermark: an RGBA overlay placed on a finished rendition. Pure Pillow, no AWS.

``apply_watermark(image, mark, spec)`` is the whole rule; ``packaged_mark()`` is the
project's PNG (imagefn/watermark.png, drawn by functions/make_watermark.py and shipped
in the function zip, whose hash it is part of).

Placement, in the rendition's pixels: the mark is ``scale`` x the rendition's width
wide (its aspect ratio kept), ``margin`` pixels in from the edges named by
``position``. A mark that would not fit inside the margins is scaled down until it
does; one that would then be under MIN_MARK_SIDE pixels on a side is skipped, as is
every mark on a rendition narrower than ``min_width``. Its alpha is the PNG's times
``opacity``, blended over the rendition (source-over, alpha of both kept).
"""

from __future__ import annotations

import functools
import importlib.resources
import io
from typing import Final

from PIL import Image

from .renditions import Watermark

MIN_MARK_SIDE: Final = 4
"""A mark smaller than this (on either side) is unreadable: it is skipped."""
MARK_FILE: Final = "watermark.png"


@functools.cache
def packaged_mark() -> Image.Image:
    """The project's watermark, RGBA, read once from the package."""
    data = importlib.resources.files("imagefn").joinpath(MARK_FILE).read_bytes()
    with Image.open(io.BytesIO(data), formats=("PNG",)) as im:
        return im.convert("RGBA")


def mark_size(
    image_size: tuple[int, int], mark_size: tuple[int, int], spec: Watermark
) -> tuple[int, int] | None:
    """The size the mark is drawn at on an image of ``image_size``; None: not drawn."""
    width, height = image_size
    if width < spec.min_width:
        return None
    room_w, room_h = width - 2 * spec.margin, height - 2 * spec.margin
    if room_w < MIN_MARK_SIDE or room_h < MIN_MARK_SIDE:
        return None
    factor = min(width * spec.scale / mark_size[0], room_w / mark_size[0], room_h / mark_size[1])
    size = (int(mark_size[0] * factor), int(mark_size[1] * factor))
    if min(size) < MIN_MARK_SIDE:
        return None
    return size


def mark_position(
    image_size: tuple[int, int], size: tuple[int, int], spec: Watermark
) -> tuple[int, int]:
    """Top-left corner of a mark of ``size`` on an image of ``image_size``."""
    free_x, free_y = image_size[0] - size[0], image_size[1] - size[1]
    vertical, _, horizontal = spec.position.rpartition("-")
    if spec.position in ("left", "right"):
        vertical, horizontal = "", spec.position
    elif spec.position in ("top", "bottom"):
        vertical, horizontal = spec.position, ""
    x = {"left": spec.margin, "right": free_x - spec.margin}.get(horizontal, free_x // 2)
    y = {"top": spec.margin, "bottom": free_y - spec.margin}.get(vertical, free_y // 2)
    return x, y


def apply_watermark(image: Image.Image, mark: Image.Image, spec: Watermark) -> Image.Image:
    """``image`` (L, RGB or RGBA) with ``mark`` (RGBA) blended on, per ``spec``; the image
    itself when the mark is skipped. L becomes RGB (the mark has colour)."""
    size = mark_size(image.size, mark.size, spec)
    if size is None:
        return image
    scaled = mark.convert("RGBA").resize(size, Image.Resampling.LANCZOS)
    if spec.opacity < 1:
        alpha = scaled.getchannel("A").point(lambda a: round(a * spec.opacity))
        scaled.putalpha(alpha)
    position = mark_position(image.size, size, spec)
    if image.mode == "RGBA":
        out = image.copy()
        out.alpha_composite(scaled, position)
        return out
    out = image.convert("RGB")  # a copy, even when already RGB
    out.paste(scaled, position, mask=scaled)
    return out
