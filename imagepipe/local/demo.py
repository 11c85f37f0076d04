"""`imagepipe local demo`: deploy the stack on moto, upload sample images and bad files,
and show what happened with the commands' own code: the uploads as `imagepipe upload
--wait` shows them, one execution as `imagepipe show` does.

The exit status says whether every upload ended as its sample expects: renditions for
the good files, the dead-letter queue with the expected reason code for the bad ones,
and nothing left in the ingest queue.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from imagepipe import display
from imagepipe.commands import show as show_command
from imagepipe.commands import upload as upload_command
from imagepipe.errors import ExitCode
from imagepipe.inputs import collect
from imagepipe.local.gallery import write_gallery
from imagepipe.local.samples import Sample, demo_samples
from imagepipe.local.stack import LocalStack, deploy_local
from imagepipe.uploads import Report, upload

if TYPE_CHECKING:
    from rich.console import Console


def run_demo(out: Path, stack_name: str = "dev") -> ExitCode:
    """The demo; ExitCode.OK when every upload ended as its sample expects."""
    started = time.monotonic()
    status = display.progress_console()
    # The demo prints results, not the emulator's, moto's or the handlers' log lines.
    logging.disable(logging.CRITICAL)
    try:
        with status.status("Generating sample images"):
            samples = demo_samples()
        deploying = "Deploying stack {} on moto (the real Pulumi program)"
        with status.status(display.markup(deploying, stack_name)):
            stack = deploy_local(stack_name)
        with stack:
            return _run(stack, samples, out, started)
    finally:
        logging.disable(logging.NOTSET)


def _run(stack: LocalStack, samples: list[Sample], out: Path, started: float) -> ExitCode:
    con = display.console()
    con.print(
        display.markup(
            f"Deployed [bold]{len(stack.resources)}[/] resources in "
            f"{time.monotonic() - started:.1f} s: source [cyan]s3://{{}}[/], "
            "renditions [cyan]s3://{}[/]",
            *(stack.source_bucket, stack.destination_bucket),
        )
    )
    for poller in stack.pollers:  # the pipe, as `serve` runs it
        poller.start()
    with tempfile.TemporaryDirectory() as folder:
        for sample in samples:
            path = Path(folder, sample.name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(sample.data)
        con.print(f"\n[bold]imagepipe upload --wait[/] of {display.plural(len(samples), 'sample')}")
        inputs = collect([Path(folder)], stack.settings.allowed_suffixes)
        report = upload(stack.clients, inputs, wait=True, timeout=300)
    upload_command.show(con, report)
    first = next((u.execution for u in report.uploads if u.outcome == "processed"), None)
    if first is not None:
        con.print(display.markup("\n[bold]imagepipe show {}[/]", first.name))
        show_command.show(con, show_command.shown(stack.clients, first))
    written = _download_renditions(stack, out)
    total = sum(p.stat().st_size for p in written)
    con.print(
        display.markup(
            f"\nRenditions written to [bold]{{}}[/]: {display.plural(len(written), 'file')}, "
            f"{display.size(total)} (<rendition>/<key>)",
            out,
        )
    )
    page = write_gallery(out)
    shown = "Renditions and their placeholders, as a page would show them: [bold]{}[/]"
    con.print(display.markup(shown, page))
    verdict = _verdict(con, stack, samples, report, started)
    con.print(
        "[dim]This stack ends with the demo: `make serve` (imagepipe local serve) keeps one "
        "running for `imagepipe ... --local`, the AWS CLI and the local console.[/]"
    )
    return verdict


def _download_renditions(stack: LocalStack, out: Path) -> list[Path]:
    """Copy every rendition to `out/<key>`; returns the files written."""
    s3, bucket = stack.clients.client("s3"), stack.destination_bucket
    written: list[Path] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            path = out / item["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(path))
            written.append(path)
    return written


def _verdict(
    con: Console, stack: LocalStack, samples: list[Sample], report: Report, started: float
) -> ExitCode:
    """Whether every upload ended as its sample expects; what differs, if anything."""
    by_key = {u.key: u for u in report.uploads}
    names = sorted(r.name for r in stack.settings.renditions)
    problems: list[str] = []
    for sample in samples:
        key = stack.upload_key(sample.name)
        done = by_key.get(key)
        if done is None or done.execution is None:
            problems.append(f"{key}: no execution")
        elif sample.good and sorted(r["name"] for r in done.execution.renditions) != names:
            problems.append(f"{key}: {done.outcome}, expected renditions {names}")
        elif not sample.good and getattr(done.execution.outcome, "reason", None) != sample.reason:
            problems.append(f"{key}: {done.outcome}, expected rejected: {sample.reason}")
    left = stack.queue_depth(stack.ingest_queue_url)
    if left:
        problems.append(f"{display.plural(left, 'message')} left in the ingest queue")
    elapsed = time.monotonic() - started
    if problems:
        con.print(f"[red bold]{display.plural(len(problems), 'problem')}[/] after {elapsed:.1f} s:")
        for problem in problems:
            con.print(display.markup("  [red]- {}[/]", problem))
        return ExitCode.ITEM_FAILED
    good = sum(1 for s in samples if s.good)
    con.print(
        f"[green bold]Every upload ended as expected[/] in {elapsed:.1f} s: {good} processed, "
        f"{len(samples) - good} rejected with their reason."
    )
    return ExitCode.OK
