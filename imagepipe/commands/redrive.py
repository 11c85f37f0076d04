"""`imagepipe redrive [--dry-run] [--max N] [--include-rejected]` (the work is in
imagepipe.redrive)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from imagepipe.commands.options import command_parser, positive
from imagepipe.errors import ExitCode

if TYPE_CHECKING:
    from rich.console import Console

    from imagepipe.redrive import Report
    from imagepipe.target import Target

NAME = "redrive"
STACK = True
NEEDS = ("deadLetterQueueUrl", "stateMachineArn")  # given, Pulumi is not run


def register(subparsers: Any) -> None:
    parser = command_parser(
        subparsers,
        NAME,
        "restart what the dead-letter queue holds, once the cause is fixed",
        "Read the dead-letter queue and restart each failed upload: a new execution "
        "of the state machine that failed, with its original input (a raw S3 event "
        "from the ingest queue is given to the upload state machine the way the pipe "
        "gives it). Rejected uploads are skipped: the same file would be rejected "
        "again. A message is deleted only once the restart is accepted; prints what "
        "it did with each message. Not RedriveExecution: it would resume at the "
        "Fail state each dead-lettered execution ends in, and redo nothing.",
        stack=True,
    )
    parser.add_argument("--dry-run", action="store_true", help="say what would be done, do nothing")
    parser.add_argument(
        "--max", type=positive, metavar="N", help="handle at most N messages (default: all)"
    )
    parser.add_argument(
        "--include-rejected", action="store_true", help="restart rejected uploads too"
    )


def run(args: argparse.Namespace, target: Target) -> ExitCode:
    from imagepipe import display

    con = display.console()
    if not args.json:
        verb = "Would restart" if args.dry_run else "Restarting"
        queue, where = target.output("deadLetterQueueUrl"), target.endpoint or "AWS"
        con.print(display.markup(verb + " from {} ({})", queue, where))
    report = redriven(target, dry_run=args.dry_run, most=args.max, rejected=args.include_rejected)
    display.emit(args, report, show, con)
    return ExitCode(report.exit_code)


def redriven(target: Target, *, dry_run: bool, most: int | None, rejected: bool) -> Report:
    """What `redrive` does with the stack's dead-letter queue (and prints), and what the
    local console's dead letters and Redrive answer."""
    from imagepipe.redrive import redrive

    return redrive(
        target,
        dead_letter_queue_url=target.output("deadLetterQueueUrl"),
        state_machine_arn=target.state_machine_arn,
        dry_run=dry_run,
        max_messages=most,
        include_rejected=rejected,
        wait_seconds=0 if target.local else 1,  # SQS's short polls may come back empty
    )


def show(con: Console, report: Report) -> None:
    """The report as a table (one row per message) or, if none, a line of text."""
    from rich.table import Table

    from imagepipe.display import cell, plural
    from imagepipe.redrive import ACTIONS

    if not report.results:
        con.print("The dead-letter queue is empty: nothing to restart.")
        return
    done = "would restart" if report.dry_run else "restarted"
    title = (
        f"{plural(len(report.results), 'message')}: {report.count(done)} {done}, "
        f"{report.count('skipped')} skipped, {report.count('failed')} refused"
    )
    grid = Table(title=title, title_justify="left")
    grid.add_column("message", no_wrap=True)
    grid.add_column("upload", overflow="fold")
    grid.add_column("was", no_wrap=True)
    grid.add_column("action", no_wrap=True)
    grid.add_column("execution / why", overflow="fold")
    colours = dict(zip(ACTIONS, ("green", "cyan", "yellow", "red"), strict=True))
    for r in report.results:
        new = r.execution_arn.rsplit(":", 1)[-1] if r.execution_arn else ""
        detail = " ".join(part for part in (new, r.note) if part) or "-"
        action = r.action + (" (message kept)" if r.action == "failed" else "")
        grid.add_row(
            cell(r.message_id[:8]),
            cell(r.key or "-"),
            cell(f"{r.kind}: {r.reason}"),
            f"[{colours[r.action]}]{action}[/]",
            cell(detail),
        )
    con.print(grid)
