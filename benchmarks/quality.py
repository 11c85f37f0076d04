"""Part 1b: how close each rendition is to a fair resampling, and what that costs in time.

python -m benchmarks.quality [--repeats N] [--all]: prints the tables (make bench puts
them in results.md).

Photo-like inputs hide aliasing: their fine detail is grain, and a grain that aliases
looks like grain. So the scenes here are generated with detail at every frequency up to
the source's Nyquist limit, where a resize that filters too little shows moire:

  photo      the benchmark's photo-like scene (inputs.photo)
  zoneplate  cos(k r^2): a circular sweep from flat at the centre to 0.5 cycles per
             pixel at the corners (fabrics, fences, screens)
  lineart    text, 1-3 px lines, hatching and a fine grid on white (architecture,
             diagrams, screenshots)

each a 12 MP baseline JPEG at q90 (so DCT scaling is in play, as for a camera's JPEG).

Reference: the source fully decoded, then Pillow's LANCZOS straight to the output's size
and centred crop (no draft, no reducing_gap: a fair resampling). Each contender's output,
as written (encoded, then decoded), is scored against it: PSNR over R, G and B, and SSIM
(scikit-image, on the same 8-bit RGB). Contenders: the project's render under candidate
settings of functions/imagefn/imaging.py, and pyvips thumbnail (benchmarks.contenders)
with the same encoder settings. CPU time: median of interleaved rounds (order rotating),
with the per-round ratio against pyvips, as in part 1.

pyvips' 200x200 cover thumb of a 4000x3000 scene is 267x200 cropped at x = 33 (whole
output pixels), where the centred reference is at 33.3. Measured once (2026-11-28)
against a reference at its own offset instead, its thumb scored 28.8 / 38.7 / 29.3 dB on
photo / zoneplate / lineart, against 27.9 / 31.0 / 25.6 at the centred one (the project:
28.9 / 43.7 / 30.4): most of its thumb deficit in the tables is that third of a pixel.
"""

from __future__ import annotations

import argparse
import io
import math
import random
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from PIL import Image, ImageDraw, ImageFont

from imagefn import imaging
from imagefn.renditions import Rendition

from . import contenders, inputs
from .contenders import Output
from .speed import Timing, _measure, _reference, _rotated

SIZE: Final = (4000, 3000)
PNG_SIZE: Final = (2400, 1500)  # renditions of exactly its aspect: no half-pixel to argue over


def zone_plate(size: tuple[int, int]) -> Image.Image:
    """cos(k r^2) around the centre, k such that the corners reach 0.5 cycles per pixel.

    Separable in Pillow alone: cos(a + b) = cos a cos b - sin a sin b, with a and b the
    row's and the column's phase, so no per-pixel Python loop is needed."""
    w, h = size
    corner = math.hypot(w / 2, h / 2)
    k = math.pi * 0.5 / corner  # local frequency k r / pi cycles per pixel

    def axis(n: int, fn: Callable[[float], float], vertical: bool) -> Image.Image:
        line = Image.new("F", (n, 1))
        line.putdata([fn(k * (i + 0.5 - n / 2) ** 2) for i in range(n)])
        if vertical:
            line = line.transpose(Image.Transpose.ROTATE_90)
        return line.resize(size, Image.Resampling.NEAREST)

    cx, sx = axis(w, math.cos, False), axis(w, math.sin, False)
    cy, sy = axis(h, math.cos, True), axis(h, math.sin, True)
    from PIL import ImageMath

    plate = ImageMath.lambda_eval(
        lambda a: (a["cx"] * a["cy"] - a["sx"] * a["sy"]) * 127.5 + 127.5,
        cx=cx, cy=cy, sx=sx, sy=sy,
    )  # fmt: skip
    return plate.convert("L").convert("RGB")


def line_art(size: tuple[int, int], seed: int = 7) -> Image.Image:
    """Black and coloured text, thin lines, hatching and a grid on white."""
    rng = random.Random(seed)  # reproducible drawing, not secrets
    w, h = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for x in range(0, w // 2, 6):  # fine grid, top left quarter
        draw.line((x, 0, x, h // 2), fill=(40, 40, 40), width=1)
    for y in range(0, h // 2, 6):
        draw.line((0, y, w // 2, y), fill=(40, 40, 40), width=1)
    for i in range(-h, w // 2, 4):  # diagonal hatching, top right quarter
        draw.line((w // 2 + i, 0, w // 2 + i + h // 2, h // 2), fill=(0, 0, 120), width=1)
    for _ in range(300):  # thin strokes everywhere in the lower half
        x0, y0 = rng.randrange(w), rng.randrange(h // 2, h)
        end = (x0 + rng.randrange(-w // 4, w // 4), y0 + rng.randrange(-h // 4, h // 4))
        colour = tuple(rng.randrange(160) for _ in range(3))
        draw.line((x0, y0, *end), fill=colour, width=rng.randrange(1, 4))
    words = ["The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "0123456789"]
    y = h // 2
    for px in (12, 16, 20, 28, 40, 64, 96):  # text from illegible to large
        font = ImageFont.load_default(px)
        for _ in range(max(1, 160 // px)):
            line = " ".join(rng.choice(words) for _ in range(w // (px * 3)))
            draw.text((10, y), line, fill=(0, 0, 0), font=font)
            y += int(px * 1.3)
    return image


def scenes() -> list[inputs.Input]:
    """The three 12 MP JPEG scenes, and the zone plate as a PNG (seeded: the same bytes
    every run)."""
    made = []
    for name, description, image in (
        ("photo", "photo-like scene (as jpeg-12mp)", inputs.photo(SIZE, 1)),
        ("zoneplate", "zone plate up to 0.5 cycles/px", zone_plate(SIZE)),
        ("lineart", "text, thin lines, hatching, grid", line_art(SIZE)),
    ):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        made.append(inputs.Input(name, description, buffer.getvalue(), SIZE, "JPEG"))
    # No DCT scaling for a PNG: what is not resampled is box-reduced (reducing_gap).
    buffer = io.BytesIO()
    zone_plate(PNG_SIZE).save(buffer, "PNG", compress_level=1)
    made.append(inputs.Input("zoneplate-png", "zone plate, 3.6 MP PNG", buffer.getvalue(),
                             PNG_SIZE, "PNG"))  # fmt: skip
    return made


# --------------------------------------------------------------------------------------
# Candidate settings of the imaging core

LIBVIPS_DRAFT: Final = {8: 2.0, 4: 2.0, 2: 2.0}
"""DCT scaling leaving 2x for the resize, as libvips' thumbnail does."""
TIGHT_DRAFT: Final = {8: 1.0, 4: 1.0, 2: 1.0}
"""Every DCT scale whose decode still covers the target."""
MID_DRAFT: Final = {8: 1.5, 4: 1.5, 2: 1.5}

BEFORE: Final = "DCT tight, gap 1, BICUBIC (before)"
"""The settings until this check (benchmarks.contenders.FAST)."""
CANDIDATES: Final[Mapping[str, Mapping[str, Any]]] = {
    BEFORE: {
        "DRAFT_GAPS": TIGHT_DRAFT, "RESIZE_REDUCING_GAP": 1.0,
        "RESAMPLE": Image.Resampling.BICUBIC,
    },
    "DCT tight, gap 2, BICUBIC": {
        "DRAFT_GAPS": TIGHT_DRAFT, "RESIZE_REDUCING_GAP": 2.0,
        "RESAMPLE": Image.Resampling.BICUBIC,
    },
    "DCT tight, gap 3, LANCZOS": {
        "DRAFT_GAPS": TIGHT_DRAFT, "RESIZE_REDUCING_GAP": 3.0,
        "RESAMPLE": Image.Resampling.LANCZOS,
    },
    "DCT 2x, gap 2, BICUBIC": {
        "DRAFT_GAPS": LIBVIPS_DRAFT, "RESIZE_REDUCING_GAP": 2.0,
        "RESAMPLE": Image.Resampling.BICUBIC,
    },
    "DCT 2x, gap 2, LANCZOS": {
        "DRAFT_GAPS": LIBVIPS_DRAFT, "RESIZE_REDUCING_GAP": 2.0,
        "RESAMPLE": Image.Resampling.LANCZOS,
    },
    "DCT 1.5x, gap 1.5, LANCZOS": {
        "DRAFT_GAPS": MID_DRAFT, "RESIZE_REDUCING_GAP": 1.5,
        "RESAMPLE": Image.Resampling.LANCZOS,
    },
    "DCT 1.5x, gap 2, LANCZOS": {
        "DRAFT_GAPS": MID_DRAFT, "RESIZE_REDUCING_GAP": 2.0,
        "RESAMPLE": Image.Resampling.LANCZOS,
    },
    "DCT 2x, gap 3, LANCZOS": {
        "DRAFT_GAPS": LIBVIPS_DRAFT, "RESIZE_REDUCING_GAP": 3.0,
        "RESAMPLE": Image.Resampling.LANCZOS,
    },
}  # fmt: skip
NOW: Final = "project (now)"
PYVIPS: Final = "pyvips"
PROBES: Final = (
    Rendition(name="w333", width=333, height=333, fit="contain", format="webp", quality=82),
    Rendition(name="w1333", width=1333, height=1333, fit="contain", format="webp", quality=82),
)
"""Other sizes, scored (not timed) on the JPEG scenes: from 4000x3000, 333 px leaves a
DCT scale 1.5x over the target and 1333 px 1.5x of a full decode, where headroom under
2x shows (the dev renditions leave 1.875x at most)."""


def now_settings() -> dict[str, Any]:
    return {name: getattr(imaging, name) for name in ("DRAFT_GAPS", "RESIZE_REDUCING_GAP",
                                                      "RESAMPLE")}  # fmt: skip


def label_of(values: Mapping[str, Any]) -> str | None:
    """The candidate's label with exactly these settings, if any."""
    for label, candidate in CANDIDATES.items():
        if all(values[k] == v for k, v in candidate.items()):
            return label
    return None


# --------------------------------------------------------------------------------------
# Scoring


@dataclass(frozen=True)
class Score:
    psnr: float
    ssim: float | None


class Reference:
    """A fair resampling of one source to each output size, and the scores against it."""

    def __init__(self, data: bytes) -> None:
        image = contenders.open_image(data)
        image.load()
        self.source = image.convert("RGB")
        self._refs: dict[tuple[int, int], Image.Image] = {}

    def score(self, out: Output) -> Score:
        size = (out.width, out.height)
        if size not in self._refs:
            self._refs[size] = _reference(self.source, size)
        decoded = Image.open(io.BytesIO(out.data)).convert("RGB")
        return Score(psnr(decoded, self._refs[size]), ssim(decoded, self._refs[size]))


def psnr(a: Image.Image, b: Image.Image) -> float:
    from PIL import ImageChops, ImageStat

    stat = ImageStat.Stat(ImageChops.difference(a, b))
    mse = sum(rms * rms for rms in stat.rms) / 3
    return 10 * math.log10(255 * 255 / mse) if mse else math.inf


def ssim(a: Image.Image, b: Image.Image) -> float | None:
    """scikit-image's SSIM over the RGB channels (None without scikit-image)."""
    try:
        import numpy as np
        from skimage.metrics import structural_similarity
    except ImportError:
        return None
    return float(
        structural_similarity(np.asarray(a), np.asarray(b), channel_axis=2, data_range=255)
    )


# --------------------------------------------------------------------------------------
# The run


@dataclass
class Cell:
    score: Score
    size: tuple[int, int]
    timing: Timing = field(default_factory=Timing)


@dataclass
class QualityResults:
    inputs: tuple[inputs.Input, ...]
    renditions: tuple[Rendition, ...]
    contenders: tuple[str, ...]
    """NOW, the candidates measured, and PYVIPS when it is available."""
    settings: dict[str, Mapping[str, Any]]
    cells: dict[tuple[str, str, str], Cell]  # (input, rendition, contender)
    repeats: int
    vips_missing: str | None = None
    probes: dict[tuple[str, str, str], Score] = field(default_factory=dict)
    """(scene, probe rendition, contender) -> score, for PROBES."""
    resize: dict[tuple[str, str], Timing] = field(default_factory=dict)
    """(rendition, "Pillow" / "libvips") -> the resize alone, as each does it at the same
    quality, from the same decoded pixels of the zone plate (what bounds the speed)."""

    def ratios(self, source: str, rendition: str, contender: str) -> list[float]:
        """Per round: the contender's CPU time over pyvips' (below 1: faster)."""
        ours = self.cells[source, rendition, contender].timing.cpu
        theirs = self.cells[source, rendition, PYVIPS].timing.cpu
        return [a / b for a, b in zip(ours, theirs, strict=True) if b > 0]

    def ratio(self, source: str, rendition: str, contender: str) -> float:
        return statistics.median(self.ratios(source, rendition, contender))

    def psnr_gap(self, source: str, rendition: str, contender: str) -> float:
        """The contender's PSNR minus pyvips' (dB; negative: worse)."""
        cells = self.cells
        return cells[source, rendition, contender].score.psnr - (
            cells[source, rendition, PYVIPS].score.psnr
        )


def _maker(values: Mapping[str, Any] | None) -> Callable[[bytes, Rendition], Output]:
    if values is None:
        return lambda data, r: contenders.vips(data, r)

    def make(data: bytes, r: Rendition) -> Output:
        with contenders.settings(values):
            return contenders.project(data, r)

    return make


def run(
    sources: Sequence[inputs.Input],
    renditions: tuple[Rendition, ...],
    *,
    repeats: int,
    candidates: bool = True,
    progress: Callable[[str], None] = lambda _: None,
) -> QualityResults:
    settings: dict[str, Mapping[str, Any]] = {NOW: now_settings()}
    if candidates:
        settings.update((k, v) for k, v in CANDIDATES.items() if v != settings[NOW])
    missing = contenders.vips_available()
    makers = {name: _maker(values) for name, values in settings.items()}
    if not missing:
        makers[PYVIPS] = _maker(None)
    names = tuple(makers)
    cells: dict[tuple[str, str, str], Cell] = {}
    for source in sources:
        progress(f"quality: {source.name}")
        reference = Reference(source.data)
        for r in renditions:
            for name in names:
                out = makers[name](source.data, r)
                size = (out.width, out.height)
                cells[source.name, r.name, name] = Cell(reference.score(out), size)
        for round_ in range(repeats + 1):  # round 0 warms up
            for r in renditions:
                for name in _rotated(names, round_):
                    wall, cpu, _ = _measure(makers[name], source.data, r)
                    if round_:
                        cells[source.name, r.name, name].timing.add(wall, cpu)
    results = QualityResults(tuple(sources), renditions, names, settings, cells, repeats,
                             missing)  # fmt: skip
    for source in sources:
        if source.format != "JPEG":
            continue
        reference = Reference(source.data)
        for p in PROBES:
            for name in names:
                results.probes[source.name, p.name, name] = reference.score(
                    makers[name](source.data, p)
                )
    if not missing:
        plate = next((s for s in sources if s.name == "zoneplate"), None)
        if plate is not None:
            results.resize = _resize_alone(plate, renditions, repeats)
    return results


def _resize_alone(
    source: inputs.Input, renditions: Sequence[Rendition], repeats: int
) -> dict[tuple[str, str], Timing]:
    """Pillow's resize (the project's settings) and libvips' resize (thumbnail's: lanczos3,
    gap 2), each from the same decoded pixels at the JPEG scale the project decodes at,
    to the project's output size: the part of a rendition where the two differ."""
    pyvips = contenders._vips()
    times: dict[tuple[str, str], Timing] = {}
    for r in renditions:
        if r.fit == "cover":
            continue  # the crop differs (libvips crops after resizing): compare contain only
        image = contenders.open_image(source.data)
        decoded = imaging.decoded_size(source.data, r, max_pixels=contenders.MAX_PIXELS)
        image.draft("RGB", decoded)
        image.load()
        out = contenders.project(source.data, r)
        vimage = pyvips.Image.new_from_memory(image.tobytes(), image.width, image.height, 3,
                                              "uchar").copy_memory()  # fmt: skip
        scale = out.width / image.width

        def pillow(
            image: Image.Image = image, size: tuple[int, int] = (out.width, out.height)
        ) -> None:
            image.resize(size, imaging.RESAMPLE, reducing_gap=imaging.RESIZE_REDUCING_GAP)

        def vips(vimage: Any = vimage, scale: float = scale) -> None:
            vimage.resize(scale, kernel="lanczos3", gap=2.0).copy_memory()

        for name in ("Pillow", "libvips"):
            times[r.name, name] = Timing()
        for round_ in range(repeats + 1):
            for name, fn in _rotated_pairs((("Pillow", pillow), ("libvips", vips)), round_):
                wall, cpu, _ = _measure(fn)
                if round_:
                    times[r.name, name].add(wall, cpu)
    return times


def _rotated_pairs(items: Sequence[tuple[str, Callable[[], None]]], by: int
                   ) -> list[tuple[str, Callable[[], None]]]:  # fmt: skip
    by %= len(items)
    return [*items[by:], *items[:by]]


# --------------------------------------------------------------------------------------
# Choosing and reporting

TOLERANCE_DB: Final = 0.5
"""A candidate matches libvips when its PSNR is at most this much below pyvips' on every
scene and rendition."""


def speed_index(results: QualityResults, name: str) -> float:
    """Geometric mean over every scene and rendition of the median CPU ratio to pyvips."""
    keys = [(s.name, r.name) for s in results.inputs for r in results.renditions]
    ratios = [results.ratio(source, rendition, name) for source, rendition in keys]
    return math.exp(sum(math.log(x) for x in ratios) / len(ratios))


def matching(results: QualityResults) -> list[str]:
    """The project settings (NOW and candidates) within TOLERANCE_DB of pyvips everywhere,
    fastest first (by speed_index)."""
    if PYVIPS not in results.contenders:
        return []
    keys = [(s.name, r.name) for s in results.inputs for r in results.renditions]
    ok = [
        name
        for name in results.settings
        if all(results.psnr_gap(s, r, name) >= -TOLERANCE_DB for s, r in keys)
    ]
    return sorted(ok, key=lambda name: speed_index(results, name))


def chosen(results: QualityResults) -> str | None:
    """The fastest of ``matching`` that is within TOLERANCE_DB of pyvips at PROBES too."""
    return chosen_without(results, None)


def chosen_without(results: QualityResults, excluded: str | None) -> str | None:
    """``chosen``, leaving one setting out."""
    for name in (n for n in matching(results) if n != excluded):
        scores = [(k, v) for k, v in results.probes.items() if k[2] == name]
        if all(
            v.psnr - results.probes[k[0], k[1], PYVIPS].psnr >= -TOLERANCE_DB for k, v in scores
        ):
            return name
    return None


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _fmt(cell: Cell) -> str:
    s = cell.score
    return f"{s.psnr:.2f}" + (f" / {s.ssim:.3f}" if s.ssim is not None else "")


def scores_table(results: QualityResults) -> list[str]:
    """PSNR / SSIM per scene and rendition: the project now against pyvips."""
    shown = [n for n in (BEFORE, NOW, PYVIPS) if n in results.contenders]
    titles = {BEFORE: "before", NOW: "project", PYVIPS: "pyvips"}
    header = ["scene", "rendition", "output", *(f"{titles[n]} dB / SSIM" for n in shown)]
    if PYVIPS in shown:
        header += ["project - pyvips", "CPU project / pyvips"]
    rows = []
    for s in results.inputs:
        for r in results.renditions:
            cell = results.cells[s.name, r.name, NOW]
            row = [s.name, r.name, f"{cell.size[0]}x{cell.size[1]}"]
            row += [_fmt(results.cells[s.name, r.name, n]) for n in shown]
            if PYVIPS in shown:
                ratios = results.ratios(s.name, r.name, NOW)
                row += [
                    f"{results.psnr_gap(s.name, r.name, NOW):+.2f} dB",
                    f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})",
                ]
            rows.append(row)
    return _table(header, rows)


def candidates_table(results: QualityResults) -> list[str]:
    """Every setting measured: worst PSNR gap to pyvips, and CPU ratio per rendition."""
    if PYVIPS not in results.contenders:
        return []
    header = ["settings", "worst PSNR vs pyvips (scene, rendition)", "worst SSIM vs pyvips",
              "CPU / pyvips, all (geometric mean)"]  # fmt: skip
    header += [f"CPU / pyvips {r.name}" for r in results.renditions]
    rows = []
    for name in results.settings:
        gaps = {
            (s.name, r.name): results.psnr_gap(s.name, r.name, name)
            for s in results.inputs
            for r in results.renditions
        }
        worst = min(gaps, key=lambda k: gaps[k])
        row = [name, f"{gaps[worst]:+.2f} dB ({worst[0]}, {worst[1]})", _ssim_gap(results, name),
               f"{speed_index(results, name):.2f}"]  # fmt: skip
        for r in results.renditions:
            ratios = [results.ratio(s.name, r.name, name) for s in results.inputs]
            row.append(" / ".join(f"{x:.2f}" for x in ratios))
        rows.append(row)
    return _table(header, rows)


def probes_table(results: QualityResults) -> list[str]:
    """PSNR at the PROBES sizes, every setting and pyvips."""
    keys = sorted({(s, r) for s, r, _ in results.probes})
    header = ["settings", *(f"{s} {r}" for s, r in keys)]
    rows = [
        [name, *(f"{results.probes[s, r, name].psnr:.2f}" for s, r in keys)]
        for name in results.contenders
    ]
    return _table(header, rows)


def _ssim_gap(results: QualityResults, name: str) -> str:
    gaps = []
    for key, cell in results.cells.items():
        theirs = results.cells[key[0], key[1], PYVIPS].score.ssim
        if key[2] == name and cell.score.ssim is not None and theirs is not None:
            gaps.append(cell.score.ssim - theirs)
    return f"{min(gaps):+.3f}" if gaps else "n/a"


def main(argv: list[str] | None = None) -> int:
    from infra.settings import load_stack_settings

    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--now-only", action="store_true", help="no candidate settings")
    args = parser.parse_args(argv)
    renditions = load_stack_settings(args.stack).renditions
    results = run(scenes(), renditions, repeats=args.repeats, candidates=not args.now_only,
                  progress=lambda m: print(m, flush=True))  # fmt: skip
    print("\n".join(scores_table(results)))
    print()
    print("\n".join(candidates_table(results)))
    print("\nscenes:", ", ".join(s.name for s in results.inputs),
          "(CPU ratios in that order)")  # fmt: skip
    print("within", TOLERANCE_DB, "dB of pyvips everywhere, fastest first:", matching(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
