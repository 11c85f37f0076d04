"""Part 1: time per rendition and per rendition set; quality; what each optimisation is worth.

Timing: every (input, rendition) is made by every contender once per round, the order of
the contenders rotating from round to round, so that all of them share the machine's
noise; one warm-up round is not counted. Reported: medians over the rounds of the wall
time (perf_counter) and the process CPU time (process_time, all threads). A "set" is the
sum over the renditions within one round (the pipeline makes each rendition in its own
Lambda invocation, from the source bytes, so each one decodes the source again).

Quality: each output is decoded and compared with a reference made from the fully
decoded source by Pillow's LANCZOS (no draft, no reducing_gap) straight to the output's
size and crop: PSNR over R, G and B, and the mean absolute error in 8-bit levels.
"""

from __future__ import annotations

import io
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from PIL import Image, ImageChops, ImageStat

from imagefn import imaging
from imagefn.renditions import Rendition

from . import contenders
from .contenders import CONTENDERS, Output
from .inputs import Input

T = TypeVar("T")


@dataclass
class Timing:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, wall: float, cpu: float) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)

    @property
    def wall_ms(self) -> float:
        return statistics.median(self.wall) * 1000

    @property
    def cpu_ms(self) -> float:
        return statistics.median(self.cpu) * 1000


@dataclass
class Cell:
    """One contender making one rendition of one input."""

    timing: Timing
    output: Output
    psnr: float | None = None
    mae: float | None = None


@dataclass
class Step:
    """One of the project's settings in the ablation on one input."""

    label: str
    cells: dict[str, Cell]  # rendition name -> cell
    total: Timing


@dataclass
class SpeedResults:
    repeats: int
    renditions: tuple[Rendition, ...]
    contenders: tuple[str, ...]
    vips: str  # version, or why it is missing
    cells: dict[tuple[str, str, str], Cell]  # (input, rendition, contender)
    totals: dict[tuple[str, str], Timing]  # (input, contender) -> per-round set sums
    inspect: dict[str, Timing]  # input -> validate_image, as the inspect Lambda runs it
    decode: dict[tuple[str, str], Timing]
    """(input, what) -> a full decode by "Pillow" or "libvips", and for a source with alpha
    "premultiply": Pillow's RGBA -> RGBa pass over it, which its resize of RGBA begins with."""
    steps: list[Step]
    step_input: str
    unreadable: dict[tuple[str, str], str] = field(default_factory=dict)
    """(input, contender) -> why that contender cannot read that input (not measured)."""

    def measured(self, source: str, contender: str) -> bool:
        return (source, contender) not in self.unreadable


def _measure(fn: Callable[..., T], *args: Any) -> tuple[float, float, T]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, out


def _reference(source: Image.Image, size: tuple[int, int]) -> Image.Image:
    """LANCZOS from the full source to ``size``, on the centred region of that aspect."""
    src_w, src_h = source.size
    w, h = size
    if src_w * h > src_h * w:  # source wider than the output: crop the sides
        region_w, region_h = src_h * w / h, float(src_h)
    else:
        region_w, region_h = float(src_w), src_w * h / w
    left, top = (src_w - region_w) / 2, (src_h - region_h) / 2
    box = (left, top, left + region_w, top + region_h)
    return source.resize(size, Image.Resampling.LANCZOS, box=box)


class QualityCheck:
    """PSNR and mean absolute error against a high-quality reference (RGB sources only)."""

    def __init__(self, data: bytes) -> None:
        image = contenders.open_image(data)
        image.load()
        self.source: Image.Image | None = image if image.mode == "RGB" else None
        self._refs: dict[tuple[int, int], Image.Image] = {}

    def __call__(self, out: Output) -> tuple[float | None, float | None]:
        if self.source is None:
            return None, None
        size = (out.width, out.height)
        if size not in self._refs:
            self._refs[size] = _reference(self.source, size)
        decoded = Image.open(io.BytesIO(out.data)).convert("RGB")
        stat = ImageStat.Stat(ImageChops.difference(decoded, self._refs[size]))
        mse = sum(rms * rms for rms in stat.rms) / 3
        mae = sum(stat.mean) / 3
        psnr = 10 * math.log10(255 * 255 / mse) if mse else math.inf
        return psnr, mae


def _rotated(items: Sequence[str], by: int) -> list[str]:
    by %= len(items)
    return [*items[by:], *items[:by]]


def run(
    inputs: Sequence[Input],
    renditions: tuple[Rendition, ...],
    *,
    repeats: int,
    step_input: str,
    progress: Callable[[str], None] = lambda _: None,
) -> SpeedResults:
    missing = contenders.vips_available()
    names = tuple(n for n in CONTENDERS if not (n == "pyvips" and missing))
    vips = contenders.vips_version() if not missing else f"not measured: {missing}"
    cells: dict[tuple[str, str, str], Cell] = {}
    unreadable: dict[tuple[str, str], str] = {}
    totals: dict[tuple[str, str], Timing] = {}
    inspect: dict[str, Timing] = {}
    decode: dict[tuple[str, str], Timing] = {}
    for source in inputs:
        progress(f"speed: {source.name}")
        sizes: dict[str, tuple[int, int]] = {}
        for r in renditions:
            first = contenders.project(source.data, r)
            sizes[r.name] = (first.width, first.height)
        inspect[source.name] = Timing()
        readable = _readers(source, renditions[0], names, unreadable)
        for name in readable:
            totals[source.name, name] = Timing()
        for round_ in range(repeats + 1):  # round 0 warms up
            sums = {name: [0.0, 0.0] for name in readable}
            for r in renditions:
                for name in _rotated(readable, round_):
                    wall, cpu, out = _measure(CONTENDERS[name], source.data, r, sizes[r.name])
                    if round_ == 0:
                        cells[source.name, r.name, name] = Cell(Timing(), out)
                        continue
                    cells[source.name, r.name, name].timing.add(wall, cpu)
                    sums[name][0] += wall
                    sums[name][1] += cpu
            wall, cpu = time.perf_counter(), time.process_time()
            imaging.validate_image(source.data, max_pixels=contenders.MAX_PIXELS)
            if round_:
                inspect[source.name].add(time.perf_counter() - wall, time.process_time() - cpu)
                for name in readable:
                    totals[source.name, name].add(*sums[name])
            for what, (wall, cpu) in _decodes(source.data, "pyvips" in readable).items():
                if round_:
                    decode.setdefault((source.name, what), Timing()).add(wall, cpu)
        check = QualityCheck(source.data)
        for r in renditions:
            for name in readable:
                cell = cells[source.name, r.name, name]
                cell.psnr, cell.mae = check(cell.output)
    progress("speed: optimisation steps")
    steps = _steps(next(i for i in inputs if i.name == step_input), renditions, repeats=repeats)
    return SpeedResults(
        repeats=repeats,
        renditions=renditions,
        contenders=names,
        vips=vips,
        cells=cells,
        totals=totals,
        inspect=inspect,
        decode=decode,
        steps=steps,
        step_input=step_input,
        unreadable=unreadable,
    )


def _decodes(data: bytes, vips: bool) -> dict[str, tuple[float, float]]:
    """One full decode by each library (what bounds a source that cannot shrink on load)."""
    wall, cpu, image = _measure(contenders.pillow_decode, data)
    times: dict[str, tuple[float, float]] = {"Pillow": (wall, cpu)}
    if image.mode == "RGBA":
        wall, cpu, _ = _measure(image.convert, "RGBa")
        times["premultiply"] = (wall, cpu)
    if vips:
        wall, cpu, _ = _measure(contenders.vips_decode, data)
        times["libvips"] = (wall, cpu)
    return times


def _readers(
    source: Input, rendition: Rendition, names: Sequence[str],
    unreadable: dict[tuple[str, str], str],
) -> list[str]:  # fmt: skip
    """The contenders that can read this input; why the others cannot goes to unreadable
    (pyvips' prebuilt libvips has no HEVC decoder, so it cannot read HEIC)."""
    readable = []
    for name in names:
        try:
            CONTENDERS[name](source.data, rendition, None)
        except Exception as exc:  # a contender's own error: report it, measure the rest
            unreadable[source.name, name] = str(exc).strip().splitlines()[-1][:200]
            continue
        readable.append(name)
    return readable


def _steps(source: Input, renditions: tuple[Rendition, ...], *, repeats: int) -> list[Step]:
    """The project's render under each step's settings, interleaved like the contenders."""
    labels = [label for label, _ in contenders.STEPS]
    values: Mapping[str, Mapping[str, Any]] = dict(contenders.STEPS)
    steps = {label: Step(label, {}, Timing()) for label in labels}
    for round_ in range(repeats + 1):
        sums = {label: [0.0, 0.0] for label in labels}
        for r in renditions:
            for label in _rotated(labels, round_):
                with contenders.settings(values[label]):
                    wall, cpu, out = _measure(contenders.project, source.data, r)
                if round_ == 0:
                    steps[label].cells[r.name] = Cell(Timing(), out)
                    continue
                steps[label].cells[r.name].timing.add(wall, cpu)
                sums[label][0] += wall
                sums[label][1] += cpu
        if round_:
            for label in labels:
                steps[label].total.add(*sums[label])
    check = QualityCheck(source.data)
    for step in steps.values():
        for cell in step.cells.values():
            cell.psnr, cell.mae = check(cell.output)
    return [steps[label] for label in labels]
