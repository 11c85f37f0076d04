"""The three ways of making a rendition that the benchmarks compare, bytes in, bytes out.

project  imagefn.imaging.render, exactly what the resize Lambda runs.
naive    what classic Pillow tutorials do: open, resize((w, h)) (Pillow's default filter,
         from the fully decoded image), save in the rendition's format at its quality
         with Pillow's default encoder settings. For "cover" it uses ImageOps.fit, the
         tutorial way to crop. It gets the project's output size, so the outputs match.
pyvips   libvips' thumbnail (shrink-on-load, then its own resize), saved with the same
         format, quality and encoder effort as the project (WebP method = effort, JPEG
         progressive with optimised Huffman tables, no metadata): any difference in
         time is the decode-and-resize pipeline, not the encoder settings.

libvips' operation cache is off (the same input would otherwise be served from it) and
its thread pool has its default size (the machine's cores); CPU time shows what that
buys. Pillow's work here is single-threaded.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from PIL import Image, ImageOps

from imagefn import imaging
from imagefn.renditions import Rendition

MAX_PIXELS: Final = 100_000_000


@dataclass(frozen=True)
class Output:
    data: bytes
    width: int
    height: int
    format: str


def project(data: bytes, rendition: Rendition, size: tuple[int, int] | None = None) -> Output:
    del size  # the project computes its own size
    out = imaging.render(data, rendition, max_pixels=MAX_PIXELS)
    return Output(out.data, out.width, out.height, out.format)


def open_image(data: bytes) -> Image.Image:
    """Image.open, with the core's own HEIF plugin registration (same options) first."""
    if imaging.sniff_format(data) == "HEIF":
        imaging._register_heif()
    return Image.open(io.BytesIO(data))


def naive(data: bytes, rendition: Rendition, size: tuple[int, int] | None = None) -> Output:
    im = open_image(data)
    source = "JPEG" if im.format == "MPO" else (im.format or "")
    fmt = imaging.output_format(rendition.format, source)
    if size is None:
        size = (rendition.width, rendition.height)
    im = ImageOps.fit(im, size) if rendition.fit == "cover" else im.resize(size)
    if fmt == "JPEG" and im.mode != "RGB":
        im = im.convert("RGB")
    buffer = io.BytesIO()
    im.save(buffer, fmt, quality=rendition.quality)
    return Output(buffer.getvalue(), im.width, im.height, fmt)


def _vips() -> Any:
    import pyvips

    pyvips.cache_set_max(0)
    return pyvips


def vips_available() -> str | None:
    """None when pyvips and libvips load, else why not."""
    try:
        pyvips = _vips()
    except Exception as exc:  # ImportError, or cffi failing to find libvips
        return f"{type(exc).__name__}: {exc}"
    return None if pyvips else "pyvips not importable"


def vips_version() -> str:
    pyvips = _vips()
    libvips = ".".join(str(pyvips.version(i)) for i in range(3))
    return f"pyvips {pyvips.__version__}, libvips {libvips}"


def vips(data: bytes, rendition: Rendition, size: tuple[int, int] | None = None) -> Output:
    del size  # thumbnail computes its own size (the same, give or take a rounding)
    pyvips = _vips()
    options: dict[str, Any] = {}
    if rendition.fit == "cover":
        options["crop"] = "centre"
    elif rendition.fit == "contain":
        options["size"] = "down"
    image = pyvips.Image.thumbnail_buffer(data, rendition.width, height=rendition.height, **options)
    source = imaging.sniff_format(data)
    fmt = imaging.output_format(rendition.format, source)
    q = rendition.quality
    if fmt == "JPEG":
        if image.hasalpha():
            image = image.flatten(background=[255, 255, 255])
        out = image.jpegsave_buffer(Q=q, optimize_coding=True, interlace=True, keep="none")
    elif fmt == "WEBP":
        out = image.webpsave_buffer(Q=q, effort=imaging.WEBP_OPTIONS["method"], keep="none")
    elif fmt == "AVIF":
        speed = imaging.AVIF_OPTIONS["speed"]
        out = image.heifsave_buffer(Q=q, compression="av1", effort=max(0, 9 - speed), keep="none")
    else:
        out = image.pngsave_buffer(compression=6, keep="none")
    return Output(out, image.width, image.height, fmt)


def pillow_decode(data: bytes) -> Image.Image:
    """Pillow's full decode of the source (the first frame), nothing else."""
    image = open_image(data)
    image.load()
    return image


def vips_decode(data: bytes) -> None:
    """libvips' full decode of the source (the first frame), nothing else."""
    _vips().Image.new_from_buffer(data, "", access="sequential").copy_memory()


CONTENDERS: Final[Mapping[str, Callable[..., Output]]] = {
    "project": project,
    "naive": naive,
    "pyvips": vips,
}


# --------------------------------------------------------------------------------------
# The project's settings before this benchmark's optimisations, to measure each one.

BEFORE: Final[Mapping[str, Any]] = {
    "DRAFT_GAPS": {8: 2.0, 4: 2.0, 2: 2.0},
    "RESIZE_REDUCING_GAP": 2.0,
    "RESAMPLE": Image.Resampling.LANCZOS,
    "WEBP_OPTIONS": {"method": 4},
}
NOW: Final[Mapping[str, Any]] = {name: getattr(imaging, name) for name in BEFORE}
HALF_ONLY: Final = {8: 2.0, 4: 2.0, 2: 1.0}  # DCT 1/2 without headroom, 1/4 and 1/8 with 2x
FAST: Final[Mapping[str, Any]] = {
    "DRAFT_GAPS": {8: 1.0, 4: 1.0, 2: 1.0},
    "RESIZE_REDUCING_GAP": 1.0,
    "RESAMPLE": Image.Resampling.BICUBIC,
    "WEBP_OPTIONS": {"method": 2},
}
"""The fastest settings tried, kept until the fine-detail check (benchmarks/quality.py)
showed they alias: every DCT scale that covers the target, box-reduce to 1x, BICUBIC."""


def _upto(*names: str) -> dict[str, Any]:
    return {**BEFORE, "DRAFT_GAPS": HALF_ONLY, **{name: FAST[name] for name in names}}


STEPS: Final[tuple[tuple[str, Mapping[str, Any]], ...]] = (
    ("before: DCT scales with 2x headroom, reducing_gap 2, LANCZOS, WebP method 4", BEFORE),
    ("+ JPEG DCT 1/2 decode whenever it covers the target", _upto()),
    ("+ box reduce down to 1x the target (reducing_gap 1)", _upto("RESIZE_REDUCING_GAP")),
    (
        "+ BICUBIC instead of LANCZOS for the rest (under 2x)",
        _upto("RESIZE_REDUCING_GAP", "RESAMPLE"),
    ),
    (
        f"+ WebP method {FAST['WEBP_OPTIONS']['method']}",
        _upto("RESIZE_REDUCING_GAP", "RESAMPLE", "WEBP_OPTIONS"),
    ),
    ("+ DCT 1/4 and 1/8 too whenever they cover the target (aliases: see quality)", FAST),
    (
        "now: the resize of 'before' again (fine detail), WebP method "
        f"{NOW['WEBP_OPTIONS']['method']} kept",
        dict(NOW),
    ),
)


@contextmanager
def settings(values: Mapping[str, Any]) -> Iterator[None]:
    """Run imaging with other module settings (this process only; restored after)."""
    saved = {name: getattr(imaging, name) for name in values}
    try:
        for name, value in values.items():
            setattr(imaging, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(imaging, name, value)
