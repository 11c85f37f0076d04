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

from imagepipe.diagram import add_diagram
from imagepipe.operate import OPERATE_SUBCOMMANDS
from imagepipe.redrive import add_redrive


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


def add_local(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    local = subparsers.add_parser(
        "local",
        help="run the stack on an embedded AWS emulator (moto), no AWS account needed",
        description="The Pulumi program deployed on moto in this process (imagepipe.local).",
    )
    commands = local.add_subparsers(dest="local_command", metavar="COMMAND", required=True)
    demo = commands.add_parser(
        "demo",
        help="deploy locally, push sample images through, show what happened",
        description=(
            "Deploy the stack on moto, upload sample images and bad files, and show the "
            "executions, renditions, notifications and dead-letter queue. Exit status: "
            "0 every upload ended as expected, 1 otherwise."
        ),
    )
    demo.add_argument("--out", default=Path("out"), type=Path, metavar="DIR",
                      help="where to write the renditions (default: out)")  # fmt: skip
    demo.add_argument("--stack", default="dev", metavar="NAME", help="stack (default: dev)")
    demo.set_defaults(func=run_local_demo)
    serve = commands.add_parser(
        "serve",
        help="serve the deployed stack on a moto server for the AWS CLI, until Ctrl-C",
    )
    serve.add_argument("--port", default=5000, type=int, help="port (default: 5000)")
    serve.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    serve.add_argument("--stack", default="dev", metavar="NAME", help="stack (default: dev)")
    serve.set_defaults(func=run_local_serve)


def run_local_demo(args: argparse.Namespace) -> int:
    from imagepipe.local.demo import run_demo

    return run_demo(args.out, args.stack)


def run_local_serve(args: argparse.Namespace) -> int:
    from imagepipe.local.serve import serve

    return serve(args.stack, args.host, args.port)


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    add_render,
    add_local,
    *OPERATE_SUBCOMMANDS,  # upload, executions, show, backfill, outputs
    add_diagram,
    add_redrive,
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
