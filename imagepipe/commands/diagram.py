"""`imagepipe diagram [--check]`: draw statemachine/*.asl.json as SVG (imagepipe.diagram)."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from imagepipe.commands.options import command_parser
from imagepipe.errors import ExitCode

NAME = "diagram"


def register(subparsers: Any) -> None:
    from imagepipe.diagram import DIAGRAM_DIR  # only paths: no heavy import

    parser = command_parser(
        subparsers,
        NAME,
        "draw each statemachine/*.asl.json as an SVG under docs/diagrams/",
        "Render every state machine definition (statemachine/*.asl.json) as an SVG "
        "diagram, one per file, in DIR (default: docs/diagrams). With --check, write "
        "nothing and exit 1 if any diagram is missing or out of date.",
    )
    parser.add_argument("--out", type=Path, default=DIAGRAM_DIR, metavar="DIR")
    parser.add_argument("--check", action="store_true", help="only check they are current")


@dataclass
class Result:
    out: Path
    check: bool
    written: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "out": str(self.out)}


def run(args: argparse.Namespace, target: None) -> ExitCode:
    from imagepipe import diagram, display

    result = Result(args.out, args.check)
    if args.check:
        result.stale = diagram.stale(args.out)
    else:
        result.written = diagram.write_all(args.out)
    display.emit(args, result, show)
    return ExitCode.ITEM_FAILED if result.stale else ExitCode.OK


def show(con: object, result: Result) -> None:  # plain lines: paths to copy, errors apart
    import sys

    for path in result.stale:
        print(f"out of date: {path} (run: imagepipe diagram)", file=sys.stderr)
    for path in result.written:
        print(path)
