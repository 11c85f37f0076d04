"""`imagepipe executions [--status S] [--limit N]`: the newest executions of the upload
state machine, with the upload that started each and how it ended."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imagepipe.commands.options import command_parser, positive
from imagepipe.errors import ExitCode
from imagepipe.executions import STATUSES, ExecutionInfo, describe_many, list_summaries

if TYPE_CHECKING:
    from rich.console import Console

    from imagepipe.target import Target

NAME = "executions"
STACK = True


def register(subparsers: Any) -> None:
    parser = command_parser(
        subparsers,
        NAME,
        "list recent executions: upload, status, duration, console link",
        "The upload state machine's recent executions, newest first: when each started, "
        "its status and duration, the upload that started it, and its console page.",
        stack=True,
    )
    parser.add_argument(
        "--status",
        type=str.upper,
        choices=STATUSES,
        help="only executions with this status",
    )
    parser.add_argument(
        "--limit", default=20, type=positive, metavar="N", help="how many (default: 20)"
    )


@dataclass
class Listing:
    target: Target
    status: str | None
    executions: list[ExecutionInfo]

    def to_dict(self) -> dict[str, Any]:
        return {
            "stateMachineArn": self.target.state_machine_arn,
            "status": self.status,
            "executions": [
                {**e.to_dict(self.target), "outcome": e.outcome.to_dict() if e.outcome else None}
                for e in self.executions
            ],
        }


def listing(target: Target, status: str | None, limit: int) -> Listing:
    """The `limit` newest executions (of one `status`), described: what `executions`
    prints, and what the local console lists."""
    summaries = list_summaries(target, target.state_machine_arn, status=status, limit=limit)
    arns = [s["executionArn"] for s in summaries]
    return Listing(target, status, describe_many(target, arns))


def run(args: argparse.Namespace, target: Target) -> ExitCode:
    from imagepipe import display

    result = listing(target, args.status, args.limit)
    display.emit(args, result, show)
    return ExitCode.OK


def short_name(name: str, keep: int = 8) -> str:
    """The first characters of an execution name: enough for `imagepipe show`."""
    return name if len(name) <= keep + 1 else name[:keep] + "…"


def show(con: Console, listing: Listing) -> None:
    from rich.table import Table

    from imagepipe import display

    target, arn = listing.target, listing.target.state_machine_arn
    which = f"{listing.status} " if listing.status else ""
    if not listing.executions:
        con.print(display.markup("No {}executions of {} yet.", which, arn))
        return
    count = display.plural(len(listing.executions), f"most recent {which}execution")
    table = Table(
        title=display.title("{} of {}", count, arn.rsplit(":", 1)[-1]), title_justify="left"
    )
    table.add_column("started", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("upload", no_wrap=True)  # a key to copy: never folded
    table.add_column("result", overflow="fold", min_width=12)
    table.add_column("execution", no_wrap=True)
    for info in listing.executions:
        table.add_row(
            display.moment(info.started, short=True),
            display.status(info.status),
            display.seconds(info.seconds),
            display.cell(info.key or "-"),
            display.cell(_result(info)),
            # In a terminal the name links to the console; piped, the URLs follow the
            # table (in a cell they would squeeze the keys).
            display.link(con, target.console_url(info.arn), short_name(info.name)),
        )
    con.print(table)
    urls = {info.name: target.console_url(info.arn) for info in listing.executions}
    if not con.is_terminal and any(urls.values()):
        con.print("Console:")
        for name, url in urls.items():
            con.print(display.markup("  {}  {}", short_name(name), url), soft_wrap=True)
    con.print(
        display.markup(
            "[dim]One in detail: imagepipe show EXECUTION{} (its name, or the "
            "first characters shown here, or the upload's key)[/]",
            target.cli_flags,
        )
    )


def _result(info: ExecutionInfo) -> str:
    from imagepipe import display

    if info.outcome:
        return f"{info.outcome.kind}: {info.outcome.reason}"
    if info.status == "SUCCEEDED":
        return display.plural(len(info.renditions), "rendition")
    return "-"
