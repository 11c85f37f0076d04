"""The `imagepipe` command line.

Each subcommand is one small `add_<name>(subparsers)` function that adds its parser and
sets `func` to a function taking the parsed arguments and returning the exit code. To
add a subcommand, write such a function and list it in SUBCOMMANDS; a command with
subcommands of its own (`imagepipe local demo`) adds a nested subparsers the same way.
Heavy imports (Pillow, Pulumi, moto) belong inside the `func`, so `--help` stays fast.
Exit codes: 0 success, 1 the work failed (e.g. an input rejected), 2 usage errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def add_render(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "render",
        help="make a stack's renditions of local image files, as the pipeline would",
        description=(
            "Render every rendition of the stack's config for each FILE, with the same "
            "code as the Lambda functions, into DIR/<rendition>/<file name>.<ext>. "
            "Prints one line per file: what was written, or why it was rejected. "
            "Exit status: 0 all rendered, 1 any rejected or unreadable, 2 usage error."
        ),
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="image files")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    parser.add_argument(
        "--stack",
        default="dev",
        metavar="NAME",
        help="stack whose renditions and limits to use (Pulumi.NAME.yaml; default: dev)",
    )
    parser.set_defaults(func=run_render)


def run_render(args: argparse.Namespace) -> int:
    from imagepipe.render import run

    return run(args.files, args.out, args.stack)


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    add_render,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imagepipe",
        description="The serverless image pipeline: render locally, run the local stack.",
    )
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, title="commands"
    )
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print("imagepipe: interrupted", file=sys.stderr)
        return 130
    return code
