"""Render the measurements into benchmarks/results.md (Markdown tables)."""

from __future__ import annotations

import dataclasses
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagefn import imaging

from . import cost, prices, quality
from .coldstart import UNZIPPED_LIMIT_MB, ZIPPED_LIMIT_MB, Artifact, ImportTimes
from .contenders import MAX_PIXELS
from .inputs import Input
from .memory import Peak
from .orchestration import Orchestration
from .quality import NOW, PYVIPS, TOLERANCE_DB, QualityResults
from .speed import SpeedResults

THUMB_SIDE = 300  # "a rendition <= 300 px"
IMPORT_TARGET_MS = 150  # the cold-start goal (issue: "under 150 ms")
TARGETS = {
    "naive": "the whole rendition set at least 3x faster than naive Pillow",
    "rss": f"RSS growth for a rendition <= {THUMB_SIDE} px from the 12 MP JPEG under 40 MB",
    "import": f"resize cold start under {IMPORT_TARGET_MS} ms (the handler's import, plus "
    "what Lambda compiles)",
    "layer": f"layer under {ZIPPED_LIMIT_MB:.0f} MB zipped, function + layer under "
    f"{UNZIPPED_LIMIT_MB:.0f} MB unzipped (Lambda's limits)",
    "quality": f"every rendition within {TOLERANCE_DB} dB PSNR of pyvips thumbnail on fine "
    "detail (zone plate, line art) and a photo",
    "transitions": "state transitions per image at most renditions + 5",
    "standard": "Standard: under $0.30 per 1,000 images (dev stack)",
    "express": "Express: under $0.05 per 1,000 images (dev stack)",
}
MEMORY_SIZES = (512, 1024, 1536, 1769, 2048, 3008)


@dataclass
class Everything:
    command: str
    when: str
    quick: bool
    settings: Any  # infra.settings.Settings
    inputs: list[Input]
    speed: SpeedResults
    memory: dict[tuple[str, str, str], Peak] | None
    imports: ImportTimes | None
    artifacts: list[Artifact]
    orchestration: Orchestration | None
    headline: str  # the input the targets are about
    quality: QualityResults | None = None


def _ms(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def _x(ratio: float) -> str:
    return f"{ratio:.2f}x"


def _usd(value: float) -> str:
    return f"${value:.4f}" if value < 0.1 else f"${value:.3f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"


def _libs() -> str:
    from PIL import __version__ as pillow
    from PIL import features

    jpeg = features.version("jpg") or "?"
    webp = features.version("webp") or "?"
    return f"Pillow {pillow} (libjpeg-turbo {jpeg}, libwebp {webp})"


# --------------------------------------------------------------------------------------
# The cost model's inputs, from the measurements


def measured_for(e: Everything, input_name: str) -> cost.Measured:
    source = next(i for i in e.inputs if i.name == input_name)
    cells = e.speed.cells
    return cost.Measured(
        source_bytes=len(source.data),
        validate_cpu_ms=e.speed.inspect[input_name].cpu_ms,
        render_cpu_ms={
            r.name: cells[input_name, r.name, "project"].timing.cpu_ms for r in e.speed.renditions
        },
        output_bytes={
            r.name: len(cells[input_name, r.name, "project"].output.data)
            for r in e.speed.renditions
        },
    )


def counts_for(o: Orchestration) -> cost.Counts:
    invocations = o.calls["lambda", "Invoke"] or (1 + o.renditions) * o.images
    return cost.Counts(
        transitions=o.transitions_per_image,
        s3_put_class=o.per_image("s3", "PutObject") + o.per_image("s3", "CopyObject"),
        s3_get_class=o.per_image("s3", "GetObject") + o.per_image("s3", "HeadObject"),
        sns_publishes=o.per_image("sns", "Publish"),
        # + 1: S3's SendMessage of the event notification (inside moto, not counted)
        sqs_requests=o.per_image("sqs", "ReceiveMessage")
        + o.per_image("sqs", "DeleteMessage")
        + o.per_image("sqs", "SendMessage")
        + 1,
        pipes_requests=o.per_image("stepfunctions", "StartExecution"),
        lambda_log_bytes_per_invocation=o.lambda_log_bytes / invocations,
        history_bytes=o.history_bytes / o.images,
    )


def _priced(e: Everything, input_name: str, memory_mb: int, concurrency: int) -> list[cost.Priced]:
    assert e.orchestration is not None
    s = e.settings
    counts = counts_for(e.orchestration)
    if s.workflow_log_level != "ALL":  # Express sends its history to CloudWatch only at ALL
        counts = dataclasses.replace(counts, history_bytes=0)
    return cost.price(
        measured_for(e, input_name),
        counts,
        memory_mb=memory_mb,
        architecture=s.lambda_architecture,
        concurrency=concurrency,
    )


def _express_quiet(e: Everything, input_name: str) -> cost.Priced:
    """Express as configured but logging at level ERROR: no history in CloudWatch Logs."""
    assert e.orchestration is not None
    s = e.settings
    counts = dataclasses.replace(counts_for(e.orchestration), history_bytes=0)
    return cost.price(
        measured_for(e, input_name),
        counts,
        memory_mb=s.lambda_memory_mb,
        architecture=s.lambda_architecture,
        concurrency=s.map_max_concurrency,
        workflows=("EXPRESS",),
    )[0]


def _needed_mb(e: Everything, pixels: float) -> tuple[float, str] | None:
    """Estimated peak RSS of the resize Lambda for a source of ``pixels``: the handler's
    RSS after import + the source bytes + the rendition's growth, each scaled from the
    input whose worst rendition grows the most per pixel. Returns (MB, that input)."""
    if e.memory is None or e.imports is None:
        return None
    best: tuple[float, str] | None = None
    for source in e.inputs:
        scale = pixels / (source.size[0] * source.size[1])
        growth = max(e.memory[source.name, r.name, "project"].growth_mb for r in e.speed.renditions)
        needed = e.imports.rss_mb + (len(source.data) / 2**20 + growth) * scale
        if best is None or needed > best[0]:
            best = (needed, source.name)
    return best


# --------------------------------------------------------------------------------------
# Targets


def paired(e: Everything, input_name: str, rendition: str, other: str) -> list[float]:
    """Per-round ratios of the project's CPU time to ``other``'s, sorted. The rounds are
    interleaved, so each pair shared the machine's state of that moment.

    CPU time (the process's, every thread), not wall time: on a machine shared with other
    work, wall time also counts the time a process waits for a core (in one run here the
    per-round wall ratios spread from 0.4 to 2.6), and the resize Lambda has one vCPU at
    the dev stack's memory size, so CPU time is what a rendition takes there (libvips'
    threads could not run in parallel on it either)."""
    ours = e.speed.cells[input_name, rendition, "project"].timing.cpu
    theirs = e.speed.cells[input_name, rendition, other].timing.cpu
    return sorted(a / b for a, b in zip(ours, theirs, strict=True))


def _verdict(ratios: list[float]) -> str:
    """yes: the median round is no slower; parity: within 5% and faster in some rounds."""
    median = statistics.median(ratios)
    if median <= 1.0:
        return "yes"
    return "parity" if median <= 1.05 and ratios[0] < 1.0 else "no"


def pyvips_target(input_name: str) -> str:
    return f"every rendition of {input_name} no slower than pyvips thumbnail"


def _pyvips_row(e: Everything, name: str) -> tuple[str, str, str, str]:
    """The pyvips target of one input: per rendition, medians and per-round ratios."""
    sp = e.speed
    target = pyvips_target(name)
    if "pyvips" not in sp.contenders:
        return (target, sp.vips, "-", "pyvips missing")
    if not sp.measured(name, "pyvips"):
        return (target, "not measured", "-", "libvips cannot read it (section 1)")
    verdicts = {}
    parts = []
    for r in sp.renditions:
        ratios = paired(e, name, r.name, "pyvips")
        verdicts[r.name] = _verdict(ratios)
        ours, theirs = (sp.cells[name, r.name, n].timing for n in ("project", "pyvips"))
        parts.append(
            f"{r.name} CPU {_ms(ours.cpu_ms)} vs {_ms(theirs.cpu_ms)} ms (per round "
            f"{statistics.median(ratios):.2f}, {ratios[0]:.2f}-{ratios[-1]:.2f}; wall "
            f"{_ms(ours.wall_ms)} vs {_ms(theirs.wall_ms)} ms)"
        )
    values = set(verdicts.values())
    verdict = "no" if "no" in values else ("parity" if "parity" in values else "yes")
    level = {n for n, v in verdicts.items() if v == verdict}
    close = sorted(n for n in verdicts if paired(e, name, n, "pyvips")[-1] > 1.0)
    note = {
        "yes": f"{', '.join(close)} slower in some rounds: a margin within this machine's noise"
        if close
        else "",
        "parity": f"{', '.join(sorted(level))} within 5%, faster in some rounds: "
        "see 'What bounds the misses'",
        "no": f"{', '.join(sorted(level))} slower; see 'What bounds the misses'",
    }[verdict]
    return (target, "; ".join(parts), verdict, note)


def shipped_bytecode(e: Everything) -> frozenset[str] | None:
    """Sources the zips carry bytecode for (for the runtime's Python); None: not built."""
    if not any(a.zipped_mb is not None for a in e.artifacts):
        return None
    return frozenset().union(*(a.compiled for a in e.artifacts))


def lambda_compile_ms(e: Everything) -> float:
    """What Lambda compiles at a cold start: the imported modules the zips carry no
    bytecode for (all of them when the zips were not built)."""
    assert e.imports is not None
    return e.imports.lambda_compile_ms(shipped_bytecode(e) or frozenset())


def targets(e: Everything) -> list[tuple[str, str, str, str]]:
    """(target, measured, verdict: yes / parity / no / -, note)."""
    rows: list[tuple[str, str, str, str]] = []
    sp, head = e.speed, e.headline
    rows += [_pyvips_row(e, i.name) for i in sorted(e.inputs, key=lambda i: i.name != head)]
    rows += _quality_target(e)
    proj = sp.totals[head, "project"].cpu_ms
    naive = sp.totals[head, "naive"].cpu_ms
    ratio = naive / proj
    rows.append(
        (
            TARGETS["naive"],
            f"CPU {_ms(proj)} vs {_ms(naive)} ms: {_x(ratio)}",
            "yes" if ratio >= 3 else "no",
            "" if ratio >= 3 else "see 'What bounds the misses'",
        )
    )
    if e.memory is not None:
        small = [r for r in sp.renditions if max(r.width, r.height) <= THUMB_SIDE]
        growth = {r.name: e.memory[head, r.name, "project"].growth_mb for r in small}
        ok = bool(small) and all(g < 40 for g in growth.values())
        text = ", ".join(f"{n}: {g:.1f} MB" for n, g in growth.items()) or "no such rendition"
        rows.append((TARGETS["rss"], text, ("yes" if ok else "no") if small else "-", ""))
    if e.imports is not None:
        med = e.imports.median_ms
        compiled = lambda_compile_ms(e)
        total = med + compiled
        shipped = shipped_bytecode(e)
        how = (
            "the zips were not built: counted as shipping no bytecode"
            if shipped is None
            else f"{e.imports.uncompiled(shipped)} imported modules without bytecode in the zips"
        )
        rows.append(
            (
                TARGETS["import"],
                f"{_ms(total)} ms: import {_ms(med)} ms (CPU {_ms(e.imports.median_cpu_ms)} ms) "
                f"+ {_ms(compiled)} ms compiling ({how})",
                "yes" if total < IMPORT_TARGET_MS else "no",
                "" if total < IMPORT_TARGET_MS else "see 'What bounds the misses'",
            )
        )
    layer = next((a for a in e.artifacts if "layer" in a.name.lower()), None)
    if layer is not None:
        if layer.zipped_mb is None or layer.unzipped_mb is None:
            rows.append((TARGETS["layer"], "not built", "-", layer.note))
        else:
            unzipped = sum(a.unzipped_mb or 0 for a in e.artifacts)
            ok = layer.zipped_mb < ZIPPED_LIMIT_MB and unzipped < UNZIPPED_LIMIT_MB
            rows.append(
                (
                    TARGETS["layer"],
                    f"{layer.zipped_mb:.1f} MB zipped, {unzipped:.1f} MB unzipped with the "
                    "function code",
                    "yes" if ok else "no",
                    "",
                )
            )
    o = e.orchestration
    if o is not None and o.transitions:
        limit = o.renditions + 5
        per = o.transitions_per_image
        rows.append(
            (TARGETS["transitions"], f"{per:g} (renditions {o.renditions}, limit {limit})",
             "yes" if per <= limit else "no", "")
        )  # fmt: skip
        s = e.settings
        for p in _priced(e, head, s.lambda_memory_mb, s.map_max_concurrency):
            key, limit_usd = ("standard", 0.30) if p.workflow == "STANDARD" else ("express", 0.05)
            rows.append(
                (
                    TARGETS[key],
                    f"{_usd(p.per_thousand)} per 1,000",
                    "yes" if p.per_thousand < limit_usd else "no",
                    "" if p.per_thousand < limit_usd else "see 'What bounds the misses'",
                )
            )
    return rows


def _quality_target(e: Everything) -> list[tuple[str, str, str, str]]:
    q = e.quality
    if q is None or PYVIPS not in q.contenders:
        return []
    gaps = {
        (s.name, r.name): q.psnr_gap(s.name, r.name, NOW) for s in q.inputs for r in q.renditions
    }
    worst = min(gaps, key=lambda k: gaps[k])
    ok = gaps[worst] >= -TOLERANCE_DB
    return [
        (
            TARGETS["quality"],
            f"worst {gaps[worst]:+.2f} dB ({worst[0]} {worst[1]}); "
            f"{sum(g >= 0 for g in gaps.values())} of {len(gaps)} at or above pyvips",
            "yes" if ok else "no",
            "section 1, 'Quality on fine detail'",
        )
    ]


# --------------------------------------------------------------------------------------
# Sections


def _speed(e: Everything) -> list[str]:
    sp = e.speed
    out = [
        "## 1. Speed: the project's render against naive Pillow and pyvips",
        "",
        f"Median of {sp.repeats} interleaved rounds (after one warm-up), wall / CPU ms. "
        "The targets table also gives, per rendition, the median and range of the "
        "per-round ratio of CPU times project / pyvips (each pair measured back to back; "
        "CPU rather than wall time: see `paired` in benchmarks/report.py). "
        "CPU is the process's, all threads. x = the other's CPU time / the project's "
        "(above 1: the project is faster). Encoders: the project's settings for all but "
        f"naive (Pillow defaults). {sp.vips}.",
        "",
    ]
    for source in e.inputs:
        out += [f"### {source.name}: {source.description}, {len(source.data) / 1e6:.1f} MB", ""]
        header = ["rendition", "output", *(f"{n} wall / CPU" for n in sp.contenders)]
        header += [f"vs {n}" for n in sp.contenders if n != "project"]
        rows: list[list[Any]] = []
        others = [n for n in sp.contenders if n != "project"]
        for r in sp.renditions:
            cells = {n: sp.cells.get((source.name, r.name, n)) for n in sp.contenders}
            proj = sp.cells[source.name, r.name, "project"]
            row: list[Any] = [
                f"{r.name} ({r.fit} {r.width}x{r.height} {r.format} q{r.quality})",
                f"{proj.output.width}x{proj.output.height} {proj.output.format}",
            ]
            row += [
                f"{_ms(c.timing.wall_ms)} / {_ms(c.timing.cpu_ms)}" if c else "n/a"
                for c in cells.values()
            ]
            row += [
                _x(c.timing.cpu_ms / proj.timing.cpu_ms) if (c := cells[n]) else "n/a"
                for n in others
            ]
            rows.append(row)
        totals = {n: sp.totals.get((source.name, n)) for n in sp.contenders}
        mine = sp.totals[source.name, "project"].cpu_ms
        set_row: list[Any] = ["**whole set**", ""]
        set_row += [
            f"**{_ms(t.wall_ms)} / {_ms(t.cpu_ms)}**" if t else "n/a" for t in totals.values()
        ]
        set_row += [f"**{_x(t.cpu_ms / mine)}**" if (t := totals[n]) else "n/a" for n in others]
        rows.append(set_row)
        out += _table(header, rows)
        for (name, reader), why in sp.unreadable.items():
            if name == source.name:
                out += [f"{reader} cannot read this input, so it is not measured: {why}", ""]
        inspect = sp.inspect[source.name]
        decodes = [
            f"{what} {_ms(t.wall_ms)} / {_ms(t.cpu_ms)} ms"
            for (name, what), t in sp.decode.items()
            if name == source.name and what != "premultiply"
        ]
        premultiply = sp.decode.get((source.name, "premultiply"))
        out += [
            f"Inspect Lambda's decode check (validate_image): {_ms(inspect.wall_ms)} / "
            f"{_ms(inspect.cpu_ms)} ms. A full decode alone (first frame, no scaling): "
            + ", ".join(decodes)
            + (
                f"; Pillow's premultiplying of it (RGBA to RGBa, the first step of its "
                f"RGBA resize): {_ms(premultiply.wall_ms)} / {_ms(premultiply.cpu_ms)} ms"
                if premultiply
                else ""
            )
            + ".",
            "",
        ]
    out += [
        "### Quality and size of the outputs",
        "",
        "Each output decoded and compared with Pillow LANCZOS from the fully decoded source "
        "to the same size and crop: PSNR in dB (higher is closer) / mean absolute error in "
        "8-bit levels / bytes. RGB sources only (the PNG with alpha is flattened differently "
        "by each contender, so its numbers would compare backgrounds).",
        "",
    ]
    rows = []
    for source in e.inputs:
        for r in sp.renditions:
            row = [source.name, r.name]
            for n in sp.contenders:
                c = sp.cells.get((source.name, r.name, n))
                if c is None:
                    row.append("n/a (not measured)")
                elif c.psnr is None or c.mae is None:
                    row.append(f"n/a / {len(c.output.data):,} B")
                else:
                    row.append(f"{c.psnr:.2f} / {c.mae:.2f} / {len(c.output.data):,} B")
            rows.append(row)
    out += _table(["input", "rendition", *sp.contenders], rows)
    out += _quality(e)
    out += _steps(e)
    return out


def _quality(e: Everything) -> list[str]:
    q = e.quality
    if q is None:
        return []
    scenes = "; ".join(f"{s.name}: {s.description}" for s in q.inputs)
    out = [
        "### Quality on fine detail",
        "",
        "Photo-like inputs hide aliasing (their fine detail is grain), so benchmarks/quality.py "
        f"generates scenes with detail up to the source's Nyquist limit ({scenes}; the JPEGs "
        "4000x3000 q90). Reference: the source fully decoded, Pillow LANCZOS straight to the "
        "output's size and centred crop (no draft, no reducing_gap). Scored: each output as "
        "written (encoded with the same settings by both, then decoded); PSNR in dB over R, G "
        "and B / SSIM (scikit-image). CPU: the project's time over pyvips', median of "
        f"{q.repeats} interleaved rounds (range in brackets); below 1 the project is faster. "
        "'before' is the project's resize until this check (every DCT scale that covers "
        "the target, box reduce to 1x, BICUBIC). pyvips' thumb crops at whole output pixels "
        "after resizing (267x200 to 200x200 at x = 33, the centred reference at 33.3): most "
        "of its thumb deficit here is that third of a pixel (benchmarks/quality.py).",
        "",
        *quality.scores_table(q),
        "",
        "Every setting measured in the same run (the CPU columns: one ratio per scene, in the "
        f"order above; a setting qualifies when no scene and rendition is more than "
        f"{TOLERANCE_DB} dB below pyvips):",
        "",
        *quality.candidates_table(q),
        "",
    ]
    if q.probes:
        out += [
            "Two other sizes, scored only (headroom under 2x shows there: from 4000x3000, "
            "333 px leaves 1.5x over a 1/8 decode, 1333 px 1.5x over a full one), PSNR dB:",
            "",
            *quality.probes_table(q),
            "",
        ]
    ok = quality.matching(q)
    pick = quality.chosen(q)
    text = (
        "Within the tolerance on every scene and rendition, fastest first (by the geometric "
        "mean of the CPU ratios): "
        + (", ".join(ok) if ok else "none")
        + "; the fastest that is within it at the other sizes too: "
        + (pick or "none")
    )
    if pick == NOW:
        text += " (the project's settings)."
    elif pick is not None and NOW in ok and quality.chosen_without(q, pick) == NOW:
        mine, best = quality.speed_index(q, NOW), quality.speed_index(q, pick)
        text += f" ({best:.2f} against the project's {mine:.2f}" + (
            ": the same within this machine's noise, and reducing_gap 3 never does "
            "less work than 2)."
            if mine <= best * 1.03
            else "; functions/imagefn/imaging.py should change)."
        )
    else:
        text += " (not the project's settings: functions/imagefn/imaging.py should change)."
    out.append(text)
    out += _resize_alone(q)
    return out


def _resize_alone(q: QualityResults) -> list[str]:
    """The resize alone, Pillow against libvips, from the same pixels (what bounds speed)."""
    if not q.resize:
        return []
    parts = []
    for r in q.renditions:
        pil, vips = q.resize.get((r.name, "Pillow")), q.resize.get((r.name, "libvips"))
        if pil is None or vips is None:
            continue
        parts.append(
            f"{r.name}: Pillow {_ms(pil.cpu_ms)} ms, libvips {_ms(vips.cpu_ms)} ms CPU "
            f"({pil.cpu_ms - vips.cpu_ms:+.0f} ms)"
        )
    return [
        "",
        "The resize alone, from the same decoded pixels of the zone plate (at the DCT scale "
        "the project decodes it at) to the same size, each library as it runs at this "
        f"quality (Pillow: {imaging.RESAMPLE.name} with reducing_gap "
        f"{imaging.RESIZE_REDUCING_GAP:g}; libvips: lanczos3, gap 2), median of "
        f"{q.repeats} interleaved rounds: " + "; ".join(parts) + ".",
        "",
    ]


def _steps(e: Everything) -> list[str]:
    sp = e.speed
    before = sp.steps[0].total
    header = ["project settings", *(f"{r.name} CPU" for r in sp.renditions)]
    header += ["set wall / CPU", "set vs before", "largest output: bytes / PSNR"]
    largest = max(sp.renditions, key=lambda r: r.width * r.height)
    rows = []
    for step in sp.steps:
        row: list[Any] = [step.label]
        row += [_ms(step.cells[r.name].timing.cpu_ms) for r in sp.renditions]
        row.append(f"{_ms(step.total.wall_ms)} / {_ms(step.total.cpu_ms)}")
        row.append(_x(before.cpu_ms / step.total.cpu_ms))
        big = step.cells[largest.name]
        psnr = f"{big.psnr:.2f} dB" if big.psnr is not None else "n/a"
        row.append(f"{len(big.output.data):,} / {psnr}")
        rows.append(row)
    return [
        f"### What each optimisation is worth ({sp.step_input})",
        "",
        "The project's render under earlier settings of functions/imagefn/imaging.py, run "
        "interleaved in the same process (ms, medians). Each row adds one change to the "
        "row above it; the first row is the code before this benchmark.",
        "",
        *_table(header, rows),
    ]


def _memory(e: Everything) -> list[str]:
    if e.memory is None:
        return ["## 2. Memory", "", "Not measured (--skip memory).", ""]
    names = sorted({k[2] for k in e.memory}, key=lambda n: ("project", "naive", "pyvips").index(n))
    rows = []
    for source in e.inputs:
        for r in e.speed.renditions:
            peaks = [e.memory.get((source.name, r.name, n)) for n in names]
            growth = [f"{p.growth_mb:.1f}" if p else "n/a" for p in peaks]
            base = e.memory[source.name, r.name, "project"].base_mb
            rows.append([source.name, r.name, *growth, f"{base:.0f}"])
    return [
        "## 2. Peak memory: RSS growth per rendition (MB)",
        "",
        "Each number from a fresh subprocess: peak RSS (VmHWM) after making the rendition "
        "minus the peak before it, in a process that had already imported everything and "
        "warmed the codecs up on a tiny image. (Not getrusage's ru_maxrss: it keeps the "
        "peak of the parent the child was forked from, across exec.) The last column is "
        "that warm baseline of the project's process (Pillow and imagefn, no boto3). A "
        "progressive JPEG needs its whole coefficient buffer in memory whatever the scale "
        "it is decoded at, hence its larger numbers.",
        "",
        *_table(["input", "rendition", *(f"{n} growth" for n in names), "project base"], rows),
    ]


def _coldstart(e: Everything) -> list[str]:
    out = ["## 3. Cold start and deployment size", ""]
    t = e.imports
    if t is not None:
        botocore_ms, client_ms = t.sdk_median_ms
        compiled = lambda_compile_ms(e)
        shipped = shipped_bytecode(e)
        every = sum(t.compile_ms.values())
        by = next((a.compiled_by for a in e.artifacts if a.compiled_by), "")
        if shipped is None:
            bytecode = (
                f"The zips were not built in this run (--skip layer), so this counts them as "
                f"carrying no bytecode: on Lambda add **{_ms(compiled)} ms** to compile the "
                f"{len(t.compile_ms)} imported modules of the layer and the function code "
                "(/opt and /var/task are read-only: nothing is cached between cold starts)."
            )
        elif by:
            bytecode = (
                f"The zips carry bytecode for {e.settings.lambda_runtime} (written by {by} "
                "on this machine: infra/packaging.py), so Lambda compiles "
                f"{t.uncompiled(shipped)} of the {len(t.compile_ms)} imported modules "
                f"of the layer and the function code: **{_ms(compiled)} ms**. Without it "
                f"(a build machine without that Python) it would compile all of them: "
                f"{_ms(every)} ms more at every cold start (/opt and /var/task are "
                "read-only, so nothing is cached)."
            )
        else:
            bytecode = (
                f"This machine has no Python {e.settings.python_version}, so the zips carry "
                f"no bytecode for {e.settings.lambda_runtime} and Lambda compiles the "
                f"{len(t.compile_ms)} imported modules of the layer and the function code at "
                f"every cold start: add **{_ms(compiled)} ms** (/opt and /var/task are "
                "read-only: nothing is cached). infra/packaging.py writes it when the build "
                "machine has that Python (python3.X on PATH, a pyenv install, or "
                "IMAGEPIPE_RUNTIME_PYTHON)."
            )
        out += [
            f"`import imagefn.resize_handler` in a fresh `python -S` (sys.path: function "
            f"code, then site-packages; warm bytecode, as shipped), median of "
            f"{len(t.runs_ms)}: **{_ms(t.median_ms)} ms** wall, {_ms(t.median_cpu_ms)} ms "
            f"CPU (runs: {', '.join(_ms(x) for x in t.runs_ms)}); a bare `python -S -c pass` "
            f"process takes {_ms(statistics.median(t.bare_ms))} ms on top. The process's peak "
            f"RSS after the import: {t.rss_mb:.0f} MB. The import creates the S3 client and "
            "the Powertools logger, as Lambda's init phase does.",
            "",
            f"The S3 client alone, in another fresh process each run (median): importing "
            f"botocore's session {_ms(botocore_ms)} ms, creating the client "
            f"{_ms(client_ms)} ms (reading botocore's endpoint data and S3's service model): "
            f"**{_ms(botocore_ms + client_ms)} ms** of the handler's import.",
            "",
            "Where the import time goes (`-X importtime`, self times grouped):",
            "",
            *_table(["part", "ms"], [[k, _ms(v)] for k, v in t.breakdown_ms.items()]),
            bytecode + " Since August 2025 Lambda bills the INIT phase of managed runtimes too.",
            "",
        ]
    rows = []
    for a in e.artifacts:
        if a.zipped_mb is None or a.unzipped_mb is None:
            rows.append([a.name, "-", "-", a.note])
            continue
        top = ", ".join(f"{n} {s:.1f}" for n, s in a.top[:4])
        rows.append([a.name, f"{a.zipped_mb:.2f}", f"{a.unzipped_mb:.2f}", top])
    unzipped = sum(a.unzipped_mb or 0 for a in e.artifacts)
    out += [
        f"Artifacts from infra/packaging.py, against Lambda's limits ({ZIPPED_LIMIT_MB:.0f} MB "
        f"zipped per upload, {UNZIPPED_LIMIT_MB:.0f} MB unzipped for a function and all its "
        "layers):",
        "",
        *_table(["artifact", "zipped MB", "unzipped MB", "largest parts (unzipped MB)"], rows),
        f"Function + layer unzipped: {unzipped:.1f} MB of {UNZIPPED_LIMIT_MB:.0f} MB "
        f"({unzipped / UNZIPPED_LIMIT_MB:.0%}).",
        "",
    ]
    return out


def _orchestration(e: Everything) -> list[str]:
    o = e.orchestration
    out = ["## 4. Orchestration: state transitions and cost", ""]
    if o is None:
        return [*out, "Not measured (--skip orchestration).", ""]
    if o.error:
        return [*out, f"The local stack run failed: {o.error}", ""]
    entered = ", ".join(f"{k} {v / o.images:g}" for k, v in sorted(o.entered.items()))
    out += [
        f"{o.images} generated 1600x1200 JPEGs uploaded to the `{o.stack}` stack deployed on "
        f"moto (imagepipe.local), pumped through the real pipeline "
        f"(executions: {', '.join(sorted(set(o.statuses)))}).",
        "",
        "**What counts as a state transition:** every `*StateEntered` event in "
        "GetExecutionHistory (a state entered, Map iterations included), which is what AWS "
        "bills Standard workflows for. Execution start/end events are not transitions; each "
        "Task retry adds one billed transition that enters no new state (none here).",
        "",
        f"Transitions per image: **{o.transitions_per_image:g}** "
        f"(per execution: {', '.join(str(t) for t in o.transitions)}; {entered}), "
        f"for {o.renditions} renditions: renditions + {o.transitions_per_image - o.renditions:g}.",
        "",
        "AWS requests per image, counted on botocore during the run (the uploads and the "
        "benchmark's own calls taken out):",
        "",
        *_table(
            ["service", "operation", "per image"],
            [[svc, op, f"{n / o.images:g}"] for (svc, op), n in sorted(o.calls.items())],
        ),
        "Plus one SQS SendMessage per image by S3's event notification (inside moto, not "
        "counted above). The local pipe's ReceiveMessage count includes its empty polls "
        "at the end of a drain; a real pipe long-polls all the time, a fixed cost of a few "
        "cents a month whatever the traffic.",
        "",
        f"Logs: the handlers wrote {o.lambda_log_bytes / max(1, o.lambda_log_events):.0f} "
        f"bytes per log event, {o.lambda_log_bytes / o.images / 1000:.1f} kB per image; an "
        f"execution's history is {o.history_bytes / o.images / 1000:.1f} kB of JSON, about "
        "what an Express workflow logging at level ALL with execution data (infra/workflow.py) "
        "sends to CloudWatch Logs per image. Standard logs at level ERROR: nothing for a "
        "success.",
        "",
    ]
    out += _costs(e)
    return out


def _costs(e: Everything) -> list[str]:
    s = e.settings
    head = e.headline
    priced = _priced(e, head, s.lambda_memory_mb, s.map_max_concurrency)
    items = list(priced[0].breakdown)
    for p in priced[1:]:
        items += [k for k in p.breakdown if k not in items]
    rows = []
    for item in items:
        rows.append(
            [item, *(f"{p.breakdown[item] * 1000:.5f}" if item in p.breakdown else "-"
                     for p in priced)]
        )  # fmt: skip
    rows.append(["**total per 1,000 images**", *(f"**{_usd(p.per_thousand)}**" for p in priced)])
    quiet = _express_quiet(e, head)
    d = priced[0].durations
    resize = ", ".join(f"{n} {_ms(ms)}" for n, ms in d.resize_ms.items())
    out = [
        f"### Cost per 1,000 images: the dev stack ({len(s.renditions)} renditions, "
        f"{s.lambda_memory_mb} MB {s.lambda_architecture}, Map concurrency "
        f"{s.map_max_concurrency}), {head}",
        "",
        f"Prices: {prices.REGION} public list prices as known on {prices.PRICES_AS_OF} "
        "(benchmarks/prices.py; free tiers ignored). **Not fetched: check them against "
        "the AWS pricing pages before quoting.** The dev stack runs in eu-west-1, a few "
        "percent dearer for some items.",
        "",
        "Modelled Lambda durations (ms): "
        f"inspect {_ms(d.inspect_ms)}, resize {resize}; execution {_ms(d.execution_ms)} ms. "
        "They come from the CPU time measured in part 1, scaled for Lambda's CPU share at "
        "this memory size, plus S3 time. Assumptions:",
        "",
        *(f"- {a}" for a in cost.ASSUMPTIONS),
        "",
        *_table(["USD per 1,000 images", *(p.workflow.title() for p in priced)], rows),
        f"Express with its state machine logging at level ERROR instead of ALL with "
        f"execution data: **{_usd(quiet.per_thousand)}** per 1,000 images. S3 PUT/COPY "
        "(three renditions and the backup copy, $0.005 per 1,000 requests) is a floor of "
        f"{_usd(priced[0].breakdown['S3 PUT/COPY'] * 1000)} whatever the workflow type.",
        "",
    ]
    rows = []
    for source in e.inputs:
        ps = _priced(e, source.name, s.lambda_memory_mb, s.map_max_concurrency)
        rows.append([source.name, *(_usd(p.per_thousand) for p in ps),
                     _ms(ps[0].durations.execution_ms)])  # fmt: skip
    out += [
        "Per input (same stack):",
        "",
        *_table(["input", "Standard", "Express", "execution ms"], rows),
    ]
    out += _sweep(e)
    return out


def _sweep(e: Everything) -> list[str]:
    s = e.settings
    out = [
        "### Lambda memory and Map concurrency",
        "",
        "Cost per 1,000 images (Standard) and modelled execution time, by Lambda memory "
        f"(Map concurrency {s.map_max_concurrency}).",
        "",
    ]
    big = "jpeg-24mp" if any(i.name == "jpeg-24mp" for i in e.inputs) else e.headline
    needed = _needed_mb(e, s.max_input_pixels)
    rows = []
    for mb in MEMORY_SIZES:
        p12 = _priced(e, e.headline, mb, s.map_max_concurrency)[0]
        p24 = _priced(e, big, mb, s.map_max_concurrency)[0]
        fits = "-" if needed is None else ("yes" if needed[0] <= 0.8 * mb else "no")
        rows.append(
            [mb, _usd(p12.per_thousand), _ms(p12.durations.execution_ms),
             _usd(p24.per_thousand), _ms(p24.durations.execution_ms), fits]
        )  # fmt: skip
    limit_mp = s.max_input_pixels / 1e6
    out += _table(
        ["memory MB", f"{e.headline} $/1,000", "execution ms", f"{big} $/1,000",
         "execution ms", f"fits {limit_mp:g} MP"],
        rows,
    )  # fmt: skip
    if needed is not None:
        out += [
            f"Estimated peak RSS of a resize at the {limit_mp:g} MP limit: {needed[0]:.0f} MB "
            f"(scaled from {needed[1]}, the input that needs the most memory per pixel); "
            "'fits' wants it under 80% of the memory size.",
            "",
        ]
    rows = []
    for c in sorted({1, 2, len(s.renditions), s.map_max_concurrency}):
        p = _priced(e, e.headline, s.lambda_memory_mb, c)
        rows.append([c, _ms(p[0].durations.execution_ms), _usd(p[1].per_thousand)])
    out += [
        f"Map concurrency ({e.headline}, {s.lambda_memory_mb} MB): the work and so the "
        "Lambda cost do not change; only the execution time (and Express' duration charge).",
        "",
        *_table(["max concurrency", "execution ms", "Express $/1,000"], rows),
    ]
    return out


def recommendations(e: Everything) -> list[str]:
    s = e.settings
    if e.orchestration is None or e.orchestration.error:
        return ["Not computed: the orchestration part did not run.", ""]
    table = {mb: _priced(e, e.headline, mb, s.map_max_concurrency)[0] for mb in MEMORY_SIZES}
    current = (
        table.get(s.lambda_memory_mb)
        or _priced(e, e.headline, s.lambda_memory_mb, s.map_max_concurrency)[0]
    )
    full = table[cost.VCPU_MB]
    extra = full.per_thousand / current.per_thousand - 1
    faster = 1 - full.durations.execution_ms / current.durations.execution_ms
    needed = _needed_mb(e, s.max_input_pixels)
    fits = "" if needed is None else f" (estimated peak at the pixel limit: {needed[0]:.0f} MB)"
    return [
        f"- **Lambda memory: {cost.VCPU_MB} MB** "
        + (
            "(as configured). "
            if s.lambda_memory_mb == cost.VCPU_MB
            else f"instead of {s.lambda_memory_mb} MB. "
        )
        + "The "
        "resize code is single-threaded and CPU-bound, and below 1,769 MB Lambda gives a "
        "share of one vCPU in proportion to memory, so GB-seconds for the CPU part stay "
        f"the same while the time shrinks: modelled cost {_usd(full.per_thousand)} vs "
        f"{_usd(current.per_thousand)} per 1,000 images ({extra:+.0%}, the S3 waits billed "
        f"at more memory) for {faster:.0%} less execution time. More than 1,769 MB buys "
        f"nothing (one thread); less risks the memory{fits}.",
        f"- **Map concurrency: {len(s.renditions)}** (the number of renditions; now "
        f"{s.map_max_concurrency}). Any value at or above the number of renditions runs them "
        "all at once, so this changes nothing today; it states the intent and keeps a burst "
        "of uploads from taking renditions x images concurrent Lambdas if more renditions "
        "are added. Lower values only lengthen each execution (table above) at the same "
        "Lambda cost.",
        "- **Express workflows: log at level ERROR** (or ALL without execution data) unless "
        "the per-event trail is needed: the history as logged costs about as much as all "
        "the Lambda time (see the cost table).",
        *_coldstart_recommendations(e),
        "",
    ]


def _coldstart_recommendations(e: Everything) -> list[str]:
    out = []
    if e.imports is not None and shipped_bytecode(e) is not None and lambda_compile_ms(e) >= 1:
        out.append(
            f"- **Cold start: build the zips where Python {e.settings.python_version} is "
            f"installed** (e.g. in CI): then infra/packaging.py ships bytecode for "
            f"{e.settings.lambda_runtime} and Lambda compiles nothing at a cold start "
            f"({_ms(lambda_compile_ms(e))} ms less, section 3)."
        )
    if e.settings.python_version not in ("3.10", "3.11"):
        out.append(
            "- **Cold start, beyond the code: Lambda SnapStart** (Python 3.12 and later; "
            "https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html) restores an "
            "initialised snapshot (imports done, S3 client created) instead of running the "
            "init phase. It applies to published versions only, so the state machines would "
            "invoke a version or alias instead of $LATEST, and it is billed per snapshot "
            "cached and restored. Not done here: a change to the deployment, priced "
            "against how often cold starts happen."
        )
    return out


def bounds(e: Everything) -> list[str]:
    """Why a missed target is missed, from the numbers."""
    out: list[str] = []
    sp, head = e.speed, e.headline
    rows = {t: verdict for t, _, verdict, _ in targets(e)}
    if rows.get(TARGETS["naive"]) == "no":
        proj = sp.totals[head, "project"].cpu_ms
        naive = sp.totals[head, "naive"].cpu_ms
        floor = sum(sp.inspect[head].cpu_ms for _ in sp.renditions)
        out.append(
            f"- **3x faster than naive** ({_x(naive / proj)}): each rendition is its own Lambda "
            f"invocation and decodes the source again. Entropy-decoding the 12 MP JPEG costs "
            f"about {_ms(sp.inspect[head].cpu_ms)} ms even at 1/8 scale (the inspect check "
            f"does exactly that), {_ms(floor)} ms for {len(sp.renditions)} renditions, and "
            "the encoders' time is the same whatever decodes and resizes; at the same WebP "
            "method as naive (Pillow's default, 4) the set would be far from 3x (see the "
            "optimisation steps). Reaching 3x would take a cheaper encoder still (WebP "
            "method 0/1: about 12% larger files at the same quality setting) or one "
            "invocation making all renditions from one decode (a change of the state "
            "machine's design)."
        )
    if rows.get(TARGETS["import"]) == "no" and e.imports is not None:
        t = e.imports
        botocore_ms, client_ms = t.sdk_median_ms
        sdk = botocore_ms + client_ms
        compiled = lambda_compile_ms(e)
        rest = t.median_ms - sdk
        out.append(
            f"- **Cold start under {IMPORT_TARGET_MS} ms** ({_ms(t.median_ms + compiled)} ms): "
            f"the S3 client alone takes {_ms(sdk)} ms in a fresh process (importing botocore's "
            f"session {_ms(botocore_ms)} ms, creating the client {_ms(client_ms)} ms: parsing "
            "botocore's 1.3 MB endpoints.json and S3's service model, and listing the "
            "service models it has), measured the same way as the import (section 3). That "
            "leaves about "
            f"{_ms(rest)} ms for everything else (Pillow, the imaging code, Powertools, "
            "the rest of the standard library)"
            + (f", plus {_ms(compiled)} ms of compiling on Lambda" if compiled >= 1 else "")
            + ". The handler already imports botocore rather than boto3, and imports "
            "pillow-heif, resvg, defusedxml, LittleCMS, blurhash and the gravity analysis "
            "only for inputs that need them. Going further would mean not creating the "
            "client at init (the first invocation would pay the same), a trimmed copy of "
            "botocore's data files (fragile across the runtime's botocore updates), or "
            "Lambda SnapStart for Python (see the recommendations)."
        )
    for source in e.inputs:
        if rows.get(pyvips_target(source.name)) in ("no", "parity"):
            out.append(_pyvips_bound(e, source))
    for key in ("standard", "express"):
        if rows.get(TARGETS[key]) == "no":
            s = e.settings
            p = _priced(e, head, s.lambda_memory_mb, s.map_max_concurrency)
            pick = p[0] if key == "standard" else p[1]
            top = sorted(pick.breakdown.items(), key=lambda kv: -kv[1])[:3]
            text = (
                f"- **{pick.workflow.title()} cost** ({_usd(pick.per_thousand)} per 1,000): "
                "the largest items are " + ", ".join(f"{k} {_usd(v * 1000)}" for k, v in top) + "."
            )
            if key == "express":
                quiet = _express_quiet(e, head)
                text += (
                    " The S3 writes are the design (three renditions and a backup copy). "
                    "The logs are the Express state machine logging every event with its "
                    "data (level ALL, includeExecutionData in infra/workflow.py): at level "
                    f"ERROR the same images cost {_usd(quiet.per_thousand)} per 1,000, "
                    f"{'under' if quiet.per_thousand < 0.05 else 'still over'} the target."
                )
            out.append(text)
    return out or ["- None: every target is met in this run."]


def _vips_shrink(size: tuple[int, int], out: Any) -> int:
    """The JPEG shrink-on-load of libvips' thumbnail: the largest of 8, 4, 2 that leaves at
    least a factor of 2 for its own resize (1 for none). Checked against its output: a
    4000x3000 JPEG loads at 1/8 for 200x150, 1/4 for 400x300 and a 200x200 cover, 1/2 for
    800x600, in full for 1600x1200."""
    factor = min(size[0] / out.width, size[1] / out.height)
    for scale in (8, 4, 2):
        if factor >= 2 * scale:
            return scale
    return 1


def _pyvips_bound(e: Everything, source: Input) -> str:
    """Why the project is behind libvips on this input, from this run's numbers."""
    sp = e.speed
    slow = [r for r in sp.renditions if _verdict(paired(e, source.name, r.name, "pyvips")) != "yes"]
    details = []
    for r in slow:
        cell = {n: sp.cells[source.name, r.name, n] for n in ("project", "pyvips")}
        ours, theirs = cell["project"].timing.cpu_ms, cell["pyvips"].timing.cpu_ms
        text = f"{r.name} CPU {_ms(ours)} vs {_ms(theirs)} ms ({ours / theirs - 1:+.0%})"
        if source.format == "JPEG":
            decoded = imaging.decoded_size(source.data, r, max_pixels=MAX_PIXELS)
            shrink = _vips_shrink(source.size, cell["pyvips"].output)
            text += (
                f", decoded at {decoded[0]}x{decoded[1]} by the project, "
                + (f"at 1/{shrink}" if shrink > 1 else "in full")
                + " by libvips"
            )
        details.append(text)
    head = f"- **{source.name} no slower than pyvips** ({'; '.join(details)})."
    pillow = sp.decode.get((source.name, "Pillow"))
    vips = sp.decode.get((source.name, "libvips"))
    if source.format == "JPEG":
        return head + _jpeg_bound(e)
    if pillow is None or vips is None:
        return head
    r = max(slow, key=lambda x: x.width * x.height)
    premultiply = sp.decode.get((source.name, "premultiply"))
    pre = premultiply.cpu_ms if premultiply else 0.0
    ours = sp.cells[source.name, r.name, "project"].timing.cpu_ms
    theirs = sp.cells[source.name, r.name, "pyvips"].timing.cpu_ms
    return (
        head + f" {source.format} has no shrink-on-load: both decode all of it, and the "
        f"decoders differ: Pillow {_ms(pillow.cpu_ms)} ms, libvips {_ms(vips.cpu_ms)} ms CPU "
        "for this file alone (section 1; Pillow's zlib-ng inflate and plain C unfilter "
        "against libvips' PNG loader)"
        + (
            f", and Pillow's resize of RGBA premultiplies the whole decoded image first "
            f"({_ms(pre)} ms; libvips premultiplies inside its pipeline)"
            if premultiply
            else ""
        )
        + f". For {r.name}, what remains after those is {_ms(ours - pillow.cpu_ms - pre)} ms "
        f"in the project and {_ms(theirs - vips.cpu_ms)} ms in libvips (resize and the "
        "same libwebp/libjpeg encoders). Pillow offers no faster PNG decoder nor a "
        "premultiplied decode; closing the gap would take another PNG decoder in the layer."
    )


def _jpeg_bound(e: Everything) -> str:
    text = (
        " Both decode with libjpeg-turbo at the same DCT scale (2x headroom over the "
        "target, what fine detail needs: 'Quality on fine detail' in section 1) and "
        "encode with the same libjpeg-turbo/libwebp settings; what differs is the resize "
        "after the decode, the same lanczos3 in both, Pillow's in plain C on one thread, "
        "libvips' vectorised (Highway SIMD)"
    )
    q = e.quality
    if q is not None and q.resize:
        parts = [
            f"{r.name} {_ms(q.resize[r.name, 'Pillow'].cpu_ms)} vs "
            f"{_ms(q.resize[r.name, 'libvips'].cpu_ms)} ms"
            for r in q.renditions
            if (r.name, "Pillow") in q.resize
        ]
        text += ": the resize alone, same pixels, Pillow vs libvips CPU, " + ", ".join(parts)
    return (
        text + ". The faster settings this project had before (every DCT scale that "
        "covers the target, box reduce to 1x, BICUBIC) were faster than pyvips on every "
        "JPEG rendition, but 5-15 dB PSNR below it on a zone plate and line art (visible "
        "moire): not the same output. Matching libvips' speed at its quality would take "
        "a vectorised resampler in the layer: libvips itself (through pyvips), as "
        "Pillow-SIMD, the fork with SIMD resampling, has x86 code only and the Lambda "
        "is arm64."
    )


def render(e: Everything) -> str:
    s = e.settings
    rends = ", ".join(
        f"{r.name} {r.fit} {r.width}x{r.height} {r.format} q{r.quality}" for r in s.renditions
    )
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{e.command}` on {e.when}{' (quick: fewer repeats)' if e.quick else ''}. "
        "Numbers are from this machine, in one run; ratios compare contenders measured "
        "side by side in the same process.",
        "",
        f"- Machine: {_machine()}; Python {platform.python_version()}; {_libs()}",
        f"- Dev stack: renditions {rends}; Lambda {s.lambda_memory_mb} MB "
        f"{s.lambda_architecture}, {s.lambda_runtime}; Map concurrency "
        f"{s.map_max_concurrency}; {s.workflow_type} workflow",
        "- Inputs (generated each run, seeded): "
        + "; ".join(
            f"{i.name} {i.size[0]}x{i.size[1]} {len(i.data) / 1e6:.1f} MB" for i in e.inputs
        ),
        "",
        "## Targets",
        "",
        *_table(
            ["target", "measured", "met"],
            [[t, m + (f" ({n})" if n else ""), verdict] for t, m, verdict, n in targets(e)],
        ),
        "### What bounds the misses",
        "",
        *bounds(e),
        "",
        "## Recommendations",
        "",
        *recommendations(e),
        *_speed(e),
        *_memory(e),
        *_coldstart(e),
        *_orchestration(e),
    ]
    return "\n".join(lines).rstrip() + "\n"


def _summary_vs_pyvips(e: Everything) -> list[str]:
    """Every input against pyvips thumbnail: its time over the project's, per rendition."""
    sp = e.speed
    if "pyvips" not in sp.contenders:
        return []
    rows = []
    for source in e.inputs:
        row: list[Any] = [source.name]
        for r in sp.renditions:
            if not sp.measured(source.name, "pyvips"):
                row.append("n/a")
                continue
            ours = sp.cells[source.name, r.name, "project"].timing.cpu_ms
            theirs = sp.cells[source.name, r.name, "pyvips"].timing.cpu_ms
            row.append(_x(theirs / ours))
        rows.append(row)
    unread = sorted({name for name, who in sp.unreadable if who == "pyvips"})
    return [
        "Every benchmark input against pyvips `thumbnail` making the same output (pyvips' "
        "CPU time over this project's, medians of the same run: the resize Lambda has one "
        "vCPU; above 1x this project is faster"
        + (f"; pyvips' libvips cannot read {', '.join(unread)}" if unread else "")
        + "):",
        "",
        *_table(["input", *(r.name for r in sp.renditions)], rows),
    ]


def _summary_quality(e: Everything) -> list[str]:
    """PSNR per scene and rendition, this project (and before this check) against pyvips."""
    q = e.quality
    if q is None or PYVIPS not in q.contenders:
        return []
    before = quality.BEFORE in q.contenders
    rows = []
    for s in q.inputs:
        row: list[Any] = [s.name]
        for r in q.renditions:
            c = {n: q.cells[s.name, r.name, n].score.psnr for n in q.contenders}
            text = f"{c[NOW]:.1f} / {c[PYVIPS]:.1f}"
            row.append(text + (f" (was {c[quality.BEFORE]:.1f})" if before else ""))
        rows.append(row)
    return [
        "Quality on fine detail (generated 12 MP JPEG scenes and a PNG: benchmarks/quality.py): "
        "PSNR in dB of this project's output / pyvips' against a full-resolution LANCZOS, "
        "both encoded with the same settings"
        + ("; in brackets this project's before this check" if before else "")
        + ":",
        "",
        *_table(["scene", *(r.name for r in q.renditions)], rows),
    ]


def _missed(e: Everything) -> list[str]:
    """One line per target not met: what it is, and what the run measured."""
    sp = e.speed
    out = []
    for target, measured, verdict, _ in targets(e):
        if verdict not in ("no", "parity"):
            continue
        name = next((i.name for i in e.inputs if target == pyvips_target(i.name)), None)
        if name is not None:
            slow = []
            for r in sp.renditions:
                if _verdict(paired(e, name, r.name, "pyvips")) == "yes":
                    continue
                ours, theirs = (sp.cells[name, r.name, n].timing for n in ("project", "pyvips"))
                slow.append(f"{r.name} {_x(theirs.cpu_ms / ours.cpu_ms)}")
            why = (
                "Pillow decodes PNG slower than libvips and premultiplies RGBA in a pass of its own"
                if next(i for i in e.inputs if i.name == name).format == "PNG"
                else "at libvips' quality (2x headroom after the DCT scaling, lanczos3), "
                "Pillow's resize in plain C against libvips' SIMD one"
            )
            out.append(
                f"{target}: pyvips' CPU time over the project's {', '.join(slow)} "
                f"({verdict}); "
                f"bound: {why}."
            )
        elif target == TARGETS["import"] and e.imports is not None:
            botocore_ms, client_ms = e.imports.sdk_median_ms
            out.append(
                f"{target}: {measured.split(':')[0]}; bound: the AWS SDK, whose S3 client "
                f"alone takes {_ms(botocore_ms + client_ms)} ms to import and create."
            )
        elif target == TARGETS["naive"]:
            out.append(
                f"{target}: {measured.split(': ')[-1]}; bound: each rendition is its own "
                "Lambda invocation and decodes the source again."
            )
        else:
            out.append(f"{target}: {measured}.")
    return out


def summary(e: Everything, minutes: float) -> str:
    """The README's Performance section: a small table and how to reproduce it."""
    sp, head = e.speed, e.headline
    names = sp.contenders
    titles = {"project": "this project", "naive": "naive Pillow", "pyvips": "pyvips thumbnail"}
    rows: list[list[Any]] = []
    for r in sp.renditions:
        c = {n: sp.cells[head, r.name, n] for n in names}
        rows.append(
            [f"{r.name} ({r.width}x{r.height} {r.fit}, {r.format})"]
            + [f"{_ms(c[n].timing.cpu_ms)} ms" for n in names]
        )
    totals = {n: sp.totals[head, n].cpu_ms for n in names}
    rows.append(
        ["**whole set**"]
        + [
            f"**{_ms(totals[n])} ms**"
            + ("" if n == "project" else f" ({_x(totals[n] / totals['project'])})")
            for n in names
        ]
    )
    if e.memory is not None:
        small = min(sp.renditions, key=lambda r: r.width * r.height)
        rows.append(
            [f"peak RSS growth, {small.name}"]
            + [f"{e.memory[head, small.name, n].growth_mb:.0f} MB" for n in names]
        )
    lines = [
        "## Performance",
        "",
        f"Making the dev stack's renditions of a 12 MP photo-like JPEG (median CPU time, what "
        "the resize Lambda's one vCPU spends; wall times, noisier on a shared machine, in "
        "benchmarks/results.md; "
        f"one run of `make bench` on {e.when[:10]}, {_machine()}; the ratio is the "
        "other's time over this project's):",
        "",
        *_table(["", *(titles.get(n, n) for n in names)], rows),
    ]
    lines += _summary_vs_pyvips(e)
    lines += _summary_quality(e)
    facts = []
    if e.imports is not None:
        compiled = lambda_compile_ms(e)
        botocore_ms, client_ms = e.imports.sdk_median_ms
        facts.append(
            f"Resize cold start: {_ms(e.imports.median_ms)} ms to import the handler (of "
            f"which the S3 client, botocore's import and the client's creation, "
            f"{_ms(botocore_ms + client_ms)} ms)"
            + (
                f", plus {_ms(compiled)} ms on Lambda to compile what the zips carry no "
                "bytecode for"
                if compiled >= 1
                else "; the zips carry bytecode for the runtime's Python, so Lambda "
                "compiles nothing"
            )
            + f" (goal: under {IMPORT_TARGET_MS} ms; what bounds it: benchmarks/results.md)."
        )
    layer = next((a for a in e.artifacts if "layer" in a.name.lower() and a.zipped_mb), None)
    if layer is not None and layer.unzipped_mb is not None and layer.zipped_mb is not None:
        facts.append(
            f"Pillow + pillow-heif + resvg + Powertools layer: {layer.zipped_mb:.1f} MB "
            f"zipped, {layer.unzipped_mb:.0f} MB unzipped (Lambda's limits: "
            f"{ZIPPED_LIMIT_MB:.0f} / {UNZIPPED_LIMIT_MB:.0f} MB)."
        )
    o = e.orchestration
    if o is not None and not o.error and o.transitions:
        s = e.settings
        p = _priced(e, head, s.lambda_memory_mb, s.map_max_concurrency)
        facts.append(
            f"{o.transitions_per_image:g} state transitions per image "
            f"({o.renditions} renditions + {o.transitions_per_image - o.renditions:g}); per "
            f"1,000 such images on the dev stack ({s.lambda_memory_mb} MB "
            f"{s.lambda_architecture}): Standard {_usd(p[0].per_thousand)}, Express "
            f"{_usd(p[1].per_thousand)} ({prices.REGION} list prices as of "
            f"{prices.PRICES_AS_OF}, to be checked; Lambda time modelled from the measured CPU "
            "time; Express is a comparison only: settings refuse it for the upload workflow, "
            "see `workflowType`)."
        )
    steps = sp.steps
    if len(steps) > 1:
        first, last = steps[0], steps[-1]
        big = max(sp.renditions, key=lambda r: r.width * r.height).name
        b, a = first.cells[big], last.cells[big]
        if b.psnr is not None and a.psnr is not None:
            facts.insert(
                0,
                f"Against this project's own resize before the benchmark: "
                f"{_ms(first.total.cpu_ms)} -> {_ms(last.total.cpu_ms)} ms CPU for the set "
                f"({_x(first.total.cpu_ms / last.total.cpu_ms)}); the {big} output "
                f"{len(b.output.data):,} -> {len(a.output.data):,} bytes, PSNR "
                f"{b.psnr:.2f} -> {a.psnr:.2f} dB against a full-resolution LANCZOS "
                "reference.",
            )
    lines += [f"- {f}" for f in facts]
    missed = _missed(e)
    if missed:
        lines += [
            "",
            "Targets missed in this run, and what bounds each (measured, in "
            "[benchmarks/results.md](benchmarks/results.md)):",
            "",
            *(f"- {m}" for m in missed),
        ]
    lines += [
        "",
        f"Reproduce with `make bench` ({minutes:.1f} min on that machine; "
        "`make bench BENCH_ARGS=--quick` for fewer repeats): it generates the "
        "inputs, installs pyvips from `benchmarks/requirements.txt` for the comparison, and "
        "writes `benchmarks/results.md` with the method, quality checks, memory, cold start "
        "and cost details.",
        "",
    ]
    return "\n".join(lines)
