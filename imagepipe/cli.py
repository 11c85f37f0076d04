"""The `imagepipe` command line: the parser the command registry (imagepipe.commands)
assembles, and `main`. Exit codes: imagepipe.errors.ExitCode (docs/cli.md)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from contextvars import ContextVar
from typing import NoReturn

from imagepipe import commands
from imagepipe.errors import ExitCode

# Whether the command line asked for --json: argument errors then print the JSON error
# document too, as every other error does.
_JSON_ERRORS: ContextVar[bool] = ContextVar("json_errors", default=False)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        if _JSON_ERRORS.get():
            error = {"code": int(ExitCode.USAGE), "message": f"{self.prog}: {message}"}
            print(json.dumps({"error": error}), flush=True)
        super().error(message)  # usage and the message on stderr, exit 2


class _Version(argparse.Action):
    """--version, read only when asked for (importlib.metadata is not free)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("imagepipe")
        except PackageNotFoundError:  # run from a checkout that was never installed
            found = "unknown"
        print(f"imagepipe {found}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="imagepipe",
        description="The serverless image pipeline: render locally, run the local stack, "
        "operate a deployed one.",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, title="commands"
    )
    commands.register_all(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    token = _JSON_ERRORS.set("--json" in arguments)
    try:
        args = build_parser().parse_args(arguments)
    finally:
        _JSON_ERRORS.reset(token)
    return commands.run(args)
