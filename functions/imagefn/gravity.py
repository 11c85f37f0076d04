"""Where fit "cover" crops: the window of the image that a rendition keeps.

Pure Pillow, no AWS. ``imaging`` calls ``crop_offset`` with the decoded image (stored
orientation, maybe at a reduced scale) and the size of the window it needs; the answer
is the window's offset along the one axis it can move on (cover crops only one axis).

Gravities
  center     the middle (imaging does not call this module for it: byte-identical output)
  entropy    the window with the most detail: the largest Shannon entropy of the histogram
             of the window's edge magnitudes (libvips' "entropy" measures grey levels; on
             an edge map a smooth gradient, which has many grey levels but no detail,
             counts for little)
  attention  the window with the most of what draws the eye, as libvips' "attention":
             edges, skin tones and saturated colour, summed and blurred into a saliency
             map; the window holding the largest share of it wins

Both search a copy at most ANALYSIS_SIDE pixels long, one pixel of it at a time; ties go
to the window nearest the centre, so an image with nothing to choose stays centred.
"""

from __future__ import annotations

from typing import Final

from PIL import Image, ImageChops, ImageFilter

from .renditions import Gravity

ANALYSIS_SIDE: Final = 128
"""Long side of the copy the search runs on: detail at this scale is what a thumbnail
shows, and it bounds the search to 128 windows whatever the source size."""
SKIN_CB: Final = (77, 127)
SKIN_CR: Final = (133, 173)
"""Skin tones in YCbCr (Chai and Ngan's chroma ranges, which hold across skin colours)."""
SKIN_MIN_LUMA: Final = 40
SATURATION_FLOOR: Final = 100
"""HSV saturation (0-255) below which colour adds nothing to attention."""
WEIGHTS: Final = {"edges": 1.0, "skin": 1.5, "saturation": 1.0}
"""How much each cue counts; skin most, as people look at people first."""


def crop_offset(
    image: Image.Image, window: tuple[float, float], gravity: Gravity
) -> tuple[float, float]:
    """(left, top) of the ``window`` (width, height, in ``image``'s pixels) to keep.

    On the axis the window fills, the offset is 0; on the other it is a whole number of
    pixels of ``image`` (a sub-pixel shift would only blur a crop of the same scale).
    """
    width, height = image.size
    free_x, free_y = max(0.0, width - window[0]), max(0.0, height - window[1])
    if gravity == "center" or (free_x < 1 and free_y < 1):
        return free_x / 2, free_y / 2
    horizontal = free_x >= free_y
    small = _analysis_copy(image)
    scores = _column_scores(small, gravity, horizontal, window, image.size)
    share = _best_share(scores)
    if horizontal:
        return float(round(share * free_x)), free_y / 2
    return free_x / 2, float(round(share * free_y))


def _analysis_copy(image: Image.Image) -> Image.Image:
    """RGB, long side ANALYSIS_SIDE at most; transparency over mid grey (no edge at the
    boundary of a cut-out subject would be missed, none is invented)."""
    scale = min(1.0, ANALYSIS_SIDE / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    small = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    if small.mode in ("RGBA", "LA"):
        board = Image.new("RGB", small.size, (128, 128, 128))
        board.paste(small.convert("RGB"), mask=small.getchannel("A"))
        return board
    return small.convert("RGB")


def _edges(grey: Image.Image) -> Image.Image:
    return grey.filter(ImageFilter.FIND_EDGES)


def _band(channel: Image.Image, low: int, high: int) -> Image.Image:
    return channel.point(lambda v: 255 if low <= v <= high else 0)


def saliency(small: Image.Image) -> Image.Image:
    """The attention map of an RGB image (L, brighter is more salient)."""
    luma, cb, cr = small.convert("YCbCr").split()
    skin = ImageChops.multiply(
        ImageChops.multiply(_band(cb, *SKIN_CB), _band(cr, *SKIN_CR)),
        _band(luma, SKIN_MIN_LUMA, 255),
    )
    sat = small.convert("HSV").getchannel("S").point(lambda v: 0 if v < SATURATION_FLOOR else v)
    edges = _edges(luma)
    total = Image.merge("RGB", (edges, skin, sat)).convert(
        "L",
        (WEIGHTS["edges"] / 3.5, WEIGHTS["skin"] / 3.5, WEIGHTS["saturation"] / 3.5, 0),
    )
    return total.filter(ImageFilter.GaussianBlur(max(1, max(small.size) // 32)))


def _column_scores(
    small: Image.Image,
    gravity: Gravity,
    horizontal: bool,
    window: tuple[float, float],
    full: tuple[int, int],
) -> list[float]:
    """Score of each window position along the free axis, one per analysis pixel."""
    if not horizontal:  # search rows as columns
        small = small.transpose(Image.Transpose.TRANSPOSE)
        window, full = (window[1], window[0]), (full[1], full[0])
    span = max(1, min(small.width, round(window[0] * small.width / full[0])))
    positions = range(small.width - span + 1)
    if gravity == "entropy":
        edges = _edges(small.convert("L"))
        return [edges.crop((x, 0, x + span, small.height)).entropy() for x in positions]
    # Mean saliency of each column, then the sum over each window.
    columns = list(saliency(small).resize((small.width, 1), Image.Resampling.BOX).tobytes())
    return [float(sum(columns[x : x + span])) for x in positions]


def _best_share(scores: list[float]) -> float:
    """Where the best score is, from 0 (first position) to 1 (last); nearest the centre
    among equals."""
    if len(scores) < 2:
        return 0.5
    middle = (len(scores) - 1) / 2
    best = max(range(len(scores)), key=lambda i: (round(scores[i], 6), -abs(i - middle)))
    return best / (len(scores) - 1)
