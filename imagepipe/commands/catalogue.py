"""`imagepipe catalogue`: the catalogue's records (one per upload), optionally of one
status: what happened to every upload, without scanning executions."""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imagepipe.catalogue import STATUSES
from imagepipe.commands.options import command_parser, positive
from imagepipe.errors import ExitCode

if TYPE_CHECKING:
    from rich.console import Console

    from imagepipe.catalogue import CatalogueRecord
    from imagepipe.target import Target

NAME = "catalogue"
STACK = True
NEEDS = ("catalogueTable",)  # given, Pulumi is not run


def register(subparsers: Any) -> None:
    parser = command_parser(
        subparsers,
        NAME,
        "every upload's record: processed, rejected (with its reason), failed",
        "The catalogue's records, one per uploaded original: its version, status "
        "(processing, processed, rejected, failed, deleted), the reason of a rejection or "
        "failure, its renditions, the same bytes uploaded earlier under another key "
        "(duplicateOf) and the execution that wrote it. Exit status 1 if any listed "
        "record is failed.",
        stack=True,
    )
    parser.add_argument("--status", choices=STATUSES, help="only records with this status")
    parser.add_argument(
        "--limit", type=positive, default=100, metavar="N", help="at most N records (100)"
    )


@dataclass
class Listing:
    """The records `catalogue` lists: the result behind its table and --json."""

    table: str
    status: str | None
    records: list[CatalogueRecord]

    def counts(self) -> dict[str, int]:
        return dict(Counter(record.status for record in self.records))

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "status": self.status,
            "counts": self.counts(),
            "records": [r.to_dict() for r in self.records],
        }


def listing(target: Target, status: str | None, limit: int) -> Listing:
    from imagepipe.catalogue import scan_records

    table = target.catalogue_table
    found = scan_records(target.client("dynamodb"), table, status=status, limit=limit)
    records = sorted(found, key=lambda r: r.updated_at or "", reverse=True)
    return Listing(table, status, records)


def run(args: argparse.Namespace, target: Target) -> ExitCode:
    from imagepipe import display

    result = listing(target, args.status, args.limit)
    display.emit(args, result, show)
    return ExitCode.ITEM_FAILED if "failed" in result.counts() else ExitCode.OK


def show(con: Console, result: Listing) -> None:
    from rich.table import Table

    from imagepipe import display

    counts = ", ".join(f"{n} {s}" for s, n in sorted(result.counts().items())) or "no records"
    con.print(display.markup("Catalogue [bold]{}[/]: {}", result.table, counts))
    table = Table(show_edge=False)
    for column in ("key", "status", "reason", "size", "renditions", "duplicate of", "updated"):
        table.add_column(column, overflow="fold")
    for record in result.records:
        size = f"{record.width}x{record.height}" if record.width and record.height else ""
        table.add_row(
            display.cell(record.key),
            display.status(record.status.upper()),
            display.cell(record.reason or ""),
            size,
            str(len(record.renditions)) if record.renditions else "",
            display.cell(record.duplicate_of or ""),
            display.cell(record.updated_at or ""),
        )
    con.print(table)
