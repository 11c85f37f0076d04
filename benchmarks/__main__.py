"""python -m benchmarks [--quick] [--skip PART ...] [--out FILE]: run, write results.md."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown

from infra.settings import load_stack_settings

from . import coldstart, inputs, memory, orchestration, quality, report, speed

HERE = Path(__file__).resolve().parent
PARTS = ("quality", "memory", "coldstart", "layer", "orchestration")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (about 1 minute)")
    parser.add_argument("--repeats", type=int, help="timing rounds (default 7, quick 3)")
    parser.add_argument("--skip", action="append", choices=PARTS, default=[])
    parser.add_argument("--stack", default="dev", help="stack whose settings are measured")
    parser.add_argument("--out", type=Path, default=HERE / "results.md")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    err = Console(stderr=True)
    started = time.perf_counter()

    def progress(message: str) -> None:
        err.log(message)

    settings = load_stack_settings(args.stack)
    progress("generating inputs")
    made = inputs.generate()
    headline = made[0].name
    results = speed.run(
        made, settings.renditions, repeats=repeats, step_input=headline, progress=progress
    )
    fine = None
    if "quality" not in args.skip:
        progress("quality: generating the fine-detail scenes")
        fine = quality.run(
            quality.scenes(), settings.renditions, repeats=repeats, progress=progress
        )
    peaks = None
    if "memory" not in args.skip:
        sizes = {
            (i, r): (c.output.width, c.output.height)
            for (i, r, n), c in results.cells.items()
            if n == "project"
        }
        with tempfile.TemporaryDirectory() as tmp:
            peaks = memory.run(
                made, settings.renditions, sizes, results.contenders, Path(tmp),
                results.unreadable, progress,
            )  # fmt: skip
    imports = None
    if "coldstart" not in args.skip:
        progress("cold start: importing the resize handler")
        imports = coldstart.import_times(max(5, repeats))
    artifacts = []
    if "layer" not in args.skip:
        artifacts = coldstart.artifacts(
            settings.python_version, settings.lambda_architecture, progress
        )
    orch = None
    if "orchestration" not in args.skip:
        try:
            orch = orchestration.run(args.stack, progress=progress)
        except Exception as exc:  # report it rather than lose the other parts
            orch = orchestration.Orchestration(args.stack, len(settings.renditions), 0)
            orch.error = f"{type(exc).__name__}: {exc}"
    command = (
        "make bench"
        if not argv and not sys.argv[1:]
        else "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])
    )
    everything = report.Everything(
        command=command,
        when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        quick=args.quick,
        settings=settings,
        inputs=made,
        speed=results,
        memory=peaks,
        imports=imports,
        artifacts=artifacts,
        orchestration=orch,
        headline=headline,
        quality=fine,
    )
    text = report.render(everything)
    args.out.write_text(text)
    summary = args.out.with_name("SUMMARY.md")
    minutes = (time.perf_counter() - started) / 60
    summary.write_text(report.summary(everything, minutes))
    Console().print(Markdown(text))
    progress(f"wrote {args.out} and {summary} in {minutes * 60:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
