"""`imagepipe backfill [--prefix P] [--only-missing] [--dry-run] [--wait]`
(the work is in imagepipe.backfill)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from imagepipe.commands.options import command_parser
from imagepipe.errors import ExitCode, OpsError

if TYPE_CHECKING:
    from rich.console import Console

    from imagepipe.backfill import DryRun, Started
    from imagepipe.target import Target

NAME = "backfill"
STACK = True
_SKIP_REASONS = {
    "prefix": "not under the upload prefix",
    "suffix": "not an allowed suffix",
    "rejected": "this version was rejected before",
}


def register(subparsers: Any) -> None:
    parser = command_parser(
        subparsers,
        NAME,
        "run existing images through the pipeline again (all, or only what is missing)",
        "Start the backfill state machine: a Distributed Map over the source bucket's "
        "listing under the upload prefix (and --prefix), each object inspected and resized "
        "as an upload would be. With --only-missing, only renditions not yet made from "
        "the object's current version (their source-etag metadata) are made. --dry-run "
        "starts nothing and lists what would be processed, computing what is missing the "
        "way Inspect does. --wait follows the execution's map run to its end.",
        stack=True,
    )
    parser.add_argument("--prefix", default="", metavar="P", help="only keys under <uploadPrefix>P")
    parser.add_argument(
        "--only-missing", action="store_true", help="make only renditions that are missing"
    )
    parser.add_argument("--dry-run", action="store_true", help="list, start nothing")
    parser.add_argument("--wait", action="store_true", help="follow the execution to its end")
    parser.add_argument(
        "--timeout",
        default=3600.0,
        type=float,
        metavar="SECONDS",
        help="with --wait: give up after this long (default: 3600)",
    )


def run(args: argparse.Namespace, target: Target) -> ExitCode:
    from imagepipe import backfill, display

    prefix = backfill.full_prefix(target, args.prefix)
    if args.dry_run:
        planned = backfill.dry_run(target, prefix, bool(args.only_missing))
        if args.json:
            display.print_json(planned.to_dict())
        else:
            show_dry_run(display.console(), planned)
        return ExitCode.OK
    skipped = backfill.recorded_rejections(target, prefix)  # what its children will skip
    arn, request = backfill.start(target, prefix, bool(args.only_missing))
    con = display.console()
    if not args.json:  # before the progress bar: what was started, and where to see it
        show_start(con, target, arn, request, len(skipped))
    result = backfill.finish(
        target,
        arn,
        request,
        wait=args.wait,
        timeout=args.timeout,
        progress=not args.json,
        skipped_rejected=skipped,
    )
    if args.json:
        display.print_json(result.to_dict())
    else:
        show(con, result)
    return ExitCode.ITEM_FAILED if result.failed else ExitCode.OK


def show_dry_run(con: Console, result: DryRun) -> None:
    from rich.table import Table

    from imagepipe import display

    what = "missing renditions" if result.only_missing else "renditions to make"
    table = Table(title=f"Backfill of {result.prefix} (dry run)", title_justify="left")
    table.add_column("object", no_wrap=True)
    table.add_column("size", justify="right")
    table.add_column(what, overflow="fold")
    for p in result.planned:
        if p.skipped == "rejected":
            cell = f"[dim]skipped: {_SKIP_REASONS[p.skipped]} ({p.rejected})[/]"
        elif p.skipped:
            cell = f"[dim]skipped: {_SKIP_REASONS[p.skipped]}[/]"
        elif p.rejected:
            cell = f"[yellow]would be rejected[/] (recorded, not processed): {p.rejected}"
        elif p.renditions:  # names here; the keys are in --json
            cell = ", ".join(r["name"] for r in p.renditions)
        else:
            cell = "[green]none: all made from this version[/]"
        table.add_row(p.key, display.size(p.size), cell)
    if result.planned:
        con.print(table)
    s = result.summary
    line = (
        f"{display.plural(s['objects'], 'object')} under {result.prefix}: {s['toProcess']} "
        f"need renditions ({display.plural(s['renditions'], 'rendition')}), "
        f"{s['complete']} complete"
    )
    if s["rejected"]:
        line += f", {s['rejected']} would be rejected (not images)"
    if s["skippedRejected"]:
        line += f", {s['skippedRejected']} skipped (recorded as rejected)"
    if s["skipped"] > s["skippedRejected"]:
        unread = s["skipped"] - s["skippedRejected"]
        line += f", {unread} skipped (an upload would not start the pipeline)"
    con.print(line + ". Nothing was started.")


def show_start(
    con: Console, target: Target, arn: str, request: dict[str, Any], skipped: int
) -> None:
    from imagepipe import display

    name = arn.rsplit(":", 1)[-1]
    only = " (only missing renditions)" if request["onlyMissing"] else ""
    con.print(f"Started backfill [bold]{name}[/] of {request['prefix']}{only}")
    if skipped:
        con.print(
            f"It skips {display.plural(skipped, 'object')} whose current version is recorded "
            "as rejected (imagepipe catalogue --status rejected)."
        )
    url = target.console_url(arn)
    con.print(f"Console: {url}" if url else f"ARN: {arn}", soft_wrap=True)


def show(con: Console, result: Started) -> None:
    from imagepipe import display

    info, flags = result.execution, result.target.cli_flags
    if not result.waited:
        con.print(f"[dim]Follow it: imagepipe show {info.name}{flags}[/]")
        return
    if not info.done:
        raise OpsError(
            ExitCode.ITEM_FAILED,
            f"backfill {info.name} still running: imagepipe show {info.name}{flags}",
        )
    counts = result.items
    line = f"Backfill {display.status(info.status)} in {display.seconds(info.seconds)}"
    if counts:
        line += (
            f": {display.plural(counts.get('total', 0), 'object')}, "
            f"{counts.get('succeeded', 0)} done, {counts.get('failed', 0)} failed"
        )
    if result.skipped_rejected:
        line += f" ({len(result.skipped_rejected)} skipped: recorded as rejected)"
    con.print(line)
    if counts and counts.get("failed"):
        for item in result.failed_items or []:
            outcome = item["outcome"] or {}
            con.print(f"  [red]{item['key']}[/]: {outcome.get('kind')}: {outcome.get('reason')}")
        con.print(
            "[dim]Failed objects went to the dead-letter queue with their reason "
            f"(imagepipe redrive{flags}, once fixed).[/]"
        )
    if info.status != "SUCCEEDED" and info.outcome:
        con.print(f"[red]{info.outcome.error}[/]: {info.outcome.message}")
