"""The `imagepipe` command line: the commands (imagepipe.commands), in the order
`imagepipe --help` lists them, their parser, and `main` with the one error boundary.
Exit codes: imagepipe.errors.ExitCode (docs/cli.md)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from contextlib import suppress
from contextvars import ContextVar
from types import ModuleType
from typing import Any, Final, NoReturn

from imagepipe.commands import (
    backfill,
    catalogue,
    diagram,
    executions,
    local,
    outputs,
    redrive,
    render,
    show,
    upload,
)
from imagepipe.errors import ExitCode, OpsError, config_problem, one_line

COMMANDS: Final[tuple[ModuleType, ...]] = (
    render,
    upload,
    executions,
    show,
    catalogue,
    outputs,
    backfill,
    redrive,
    diagram,
    local,
)
_BY_NAME: Final = {module.NAME: module for module in COMMANDS}

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
    for module in COMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    _JSON_ERRORS.set("--json" in arguments)  # each command line says it anew
    return run(build_parser().parse_args(arguments))


def run(args: argparse.Namespace) -> int:
    """Run the command `args` name; every failure becomes one line and an exit code."""
    module = _BY_NAME[args.command]
    sub = getattr(args, "sub", None)  # `local demo`: the subcommand too
    label = f"imagepipe {args.command}" + (f" {sub}" if sub else "")
    target = None
    try:
        if getattr(module, "STACK", False):
            from imagepipe.stack_outputs import ESSENTIAL_OUTPUTS
            from imagepipe.target import target_for

            target = target_for(args, getattr(module, "NEEDS", ESSENTIAL_OUTPUTS))
        code = int(module.run(args, target))
        sys.stdout.flush()  # here, not at exit: a closed pipe is then the branch below
        return code
    except BrokenPipeError:  # `imagepipe ... | head`: the reader has what it wanted
        _quiet_stdout()
        return ExitCode.OK
    except KeyboardInterrupt:
        print(f"{label}: interrupted", file=sys.stderr, flush=True)
        return ExitCode.INTERRUPTED
    except Exception as err:  # never a traceback: say what it was, or call it a bug
        return fail(label, args, err if isinstance(err, OpsError) else _explained(err, target))


def fail(label: str, args: argparse.Namespace, err: OpsError) -> int:
    """One line on stderr; with --json also {"error": ...} on stdout."""
    line = one_line(err.message)
    try:
        if getattr(args, "json", False):
            print(json.dumps({"error": {"code": int(err.code), "message": line}}), flush=True)
        print(f"{label}: {line}", file=sys.stderr, flush=True)
    except BrokenPipeError:
        _quiet_stdout()
    return int(err.code)


def _explained(err: Exception, target: Any) -> OpsError:
    """What went wrong, as a bad stack config, an AWS error, or else a bug."""
    problem = config_problem(err)
    if problem is not None:
        return OpsError(ExitCode.USAGE, problem)
    from imagepipe.target import translate

    cause = err.__cause__ or err.__context__  # e.g. under boto3's S3UploadFailedError
    failure = translate(err, target) or (translate(cause, target) if cause else None)
    if failure is not None:
        return failure
    if os.environ.get("IMAGEPIPE_DEBUG"):
        raise err
    return OpsError(
        ExitCode.INTERNAL,
        f"unexpected {type(err).__name__}: {err} (a bug: rerun with IMAGEPIPE_DEBUG=1 for "
        "the traceback and report it)",
    )


def _quiet_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered would otherwise fail again when
    Python flushes it at exit, and print a warning after all."""
    with suppress(OSError, ValueError):  # no real stdout (captured in tests): nothing to flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
