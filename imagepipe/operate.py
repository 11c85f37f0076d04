"""The operating commands' parsers: `imagepipe upload|executions|show|backfill|outputs`.

Every one works on a deployed stack (names from `pulumi stack output`, flags or
IMAGEPIPE_* variables) or, with --local, on a running `imagepipe local serve`, through
one `imagepipe.target.Target`. This module only imports argparse: the work is in
imagepipe.commands, imported when a command runs.

Exit codes (docs/cli.md): 0 ok; 1 an item failed (an upload rejected or failed, an
execution failed, nothing found, a wait timed out); 2 usage; 3 stack not found, not
deployed, or no local stack running; 4 an AWS error (credentials, permissions,
network); 5 a bug in imagepipe. Errors are one line on stderr (and with --json also
`{"error": {"code": N, "message": "..."}}` on stdout), never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_CODES = (
    "exit status: 0 ok; 1 an item failed (rejected, failed, not found, timed out); "
    "2 usage error; 3 stack not found / not deployed / no local stack running; "
    "4 AWS error (credentials, permissions, network); 5 a bug in imagepipe"
)
WHERE = (
    "The stack: a deployed one by default (names from `pulumi stack output --json "
    "--stack NAME`, or from the flags below or IMAGEPIPE_SOURCE_BUCKET, "
    "IMAGEPIPE_DESTINATION_BUCKET, IMAGEPIPE_STATE_MACHINE_ARN, "
    "IMAGEPIPE_BACKFILL_STATE_MACHINE_ARN; AWS credentials and region as the AWS CLI "
    "finds them), or with --local the one a running `imagepipe local serve` serves."
)


def stack_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The "which stack" group every stack command shares: --stack, --local, --endpoint.

    Returned so a command can add the names it needs from a deployed stack.
    """
    where = parser.add_argument_group("which stack")
    where.add_argument(
        "--stack",
        default=os.environ.get("IMAGEPIPE_STACK", "dev"),
        metavar="NAME",
        help="stack name (default: $IMAGEPIPE_STACK or dev)",
    )
    where.add_argument(
        "--local",
        action="store_true",
        help="use the local stack of a running `imagepipe local serve --stack NAME`",
    )
    where.add_argument(
        "--endpoint",
        metavar="URL",
        help="with --local: the server's URL (default: the one serve recorded, "
        "normally http://127.0.0.1:5000)",
    )
    return where


def _common(parser: argparse.ArgumentParser) -> None:
    where = stack_arguments(parser)
    where.add_argument("--source-bucket", metavar="NAME", help="source bucket (deployed stack)")
    where.add_argument(
        "--destination-bucket", metavar="NAME", help="renditions bucket (deployed stack)"
    )
    where.add_argument(
        "--state-machine-arn", metavar="ARN", help="upload state machine (deployed stack)"
    )
    where.add_argument(
        "--backfill-state-machine-arn",
        metavar="ARN",
        help="backfill state machine (default: imagepipe-NAME-backfill beside the upload one)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document (shapes: docs/cli.md)"
    )


class _ParagraphFormatter(argparse.HelpFormatter):
    """Wraps each paragraph (blank-line separated) of the description on its own."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n\n".join(
            super(_ParagraphFormatter, self)._fill_text(paragraph, width, indent)
            for paragraph in text.split("\n\n")
        )


def _parser(
    subparsers: Subparsers, name: str, help_text: str, description: str
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description=f"{description}\n\n{WHERE}",
        epilog=EXIT_CODES,
        formatter_class=_ParagraphFormatter,
    )
    return parser


def add_upload(subparsers: Subparsers) -> None:
    parser = _parser(
        subparsers,
        "upload",
        "upload images into the stack, optionally waiting for their renditions",
        "Upload FILEs, and the images in DIRs (recursively, the stack's allowedSuffixes "
        "only), to the source bucket under the stack's upload prefix (and --prefix): "
        "DIR/a/b.jpg becomes <uploadPrefix><prefix>a/b.jpg. With --wait, follow each "
        "upload's execution to its end and print its renditions (key, pixel size, bytes) "
        "or why it went to the dead-letter queue.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="FILE|DIR", help="what to upload")
    parser.add_argument(
        "--prefix", default="", metavar="P", help="key prefix under the upload prefix, e.g. 2024/"
    )
    parser.add_argument("--wait", action="store_true", help="follow the executions to their end")
    parser.add_argument(
        "--timeout",
        default=300.0,
        type=float,
        metavar="SECONDS",
        help="with --wait: give up after this long (default: 300)",
    )
    _common(parser)
    parser.set_defaults(func=_runner("upload"))


def add_executions(subparsers: Subparsers) -> None:
    parser = _parser(
        subparsers,
        "executions",
        "list recent executions: upload, status, duration, console link",
        "The upload state machine's recent executions, newest first: when each started, "
        "its status and duration, the upload that started it, and its console page.",
    )
    parser.add_argument(
        "--status",
        type=str.upper,
        choices=["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"],
        help="only executions with this status",
    )
    parser.add_argument(
        "--limit", default=20, type=_positive, metavar="N", help="how many (default: 20)"
    )
    _common(parser)
    parser.set_defaults(func=_runner("executions"))


def add_show(subparsers: Subparsers) -> None:
    parser = _parser(
        subparsers,
        "show",
        "one execution state by state (by execution ARN, name, or uploaded key)",
        "The state-by-state timeline of one execution from its history: each state, "
        "when it started (from the execution's start), how long it took, its retries and "
        "its error; then the renditions it made or why it was dead-lettered. EXECUTION is "
        "an execution ARN or name; KEY an uploaded object's key (with or without the "
        "upload prefix), whose newest execution is shown. Exit status 1 if it failed.",
    )
    parser.add_argument("what", metavar="EXECUTION|KEY")
    parser.add_argument(
        "--search",
        default=500,
        type=_positive,
        metavar="N",
        help="for a KEY: how many recent executions to look through (default: 500)",
    )
    _common(parser)
    parser.set_defaults(func=_runner("show"))


def add_backfill(subparsers: Subparsers) -> None:
    parser = _parser(
        subparsers,
        "backfill",
        "run existing images through the pipeline again (all, or only what is missing)",
        "Start the backfill state machine: a Distributed Map over the source bucket's "
        "listing under the upload prefix (and --prefix), each object inspected and resized "
        "as an upload would be. With --only-missing, only renditions not yet made from "
        "the object's current version (their source-etag metadata) are made. --dry-run "
        "starts nothing and lists what would be processed, computing what is missing the "
        "way Inspect does. --wait follows the execution's map run to its end.",
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
    _common(parser)
    parser.set_defaults(func=_runner("backfill"))


def add_outputs(subparsers: Subparsers) -> None:
    parser = _parser(
        subparsers,
        "outputs",
        "the stack's buckets, state machines, console links and upload commands",
        "The stack's outputs: buckets, state machines, dead-letter queue, topic, their "
        "console links, the renditions it makes, and ready-to-paste upload commands.",
    )
    _common(parser)
    parser.set_defaults(func=_runner("outputs"))


OPERATE_SUBCOMMANDS: list[Callable[[Subparsers], None]] = [
    add_upload,
    add_executions,
    add_show,
    add_backfill,
    add_outputs,
]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _runner(command: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return guarded(command, args)

    return run


def guarded(command: str, args: argparse.Namespace) -> int:
    """Run `command` on its target; every failure becomes one line and an exit code."""
    from imagepipe import commands
    from imagepipe.target import INTERNAL, OpsError, Target, translate

    target: Target | None = None
    try:
        target = commands.target_for(args)
        code: int = commands.COMMANDS[command](args, target)
        return code
    except OpsError as err:
        return _fail(command, args, err.code, err.message)
    except BrokenPipeError:  # `imagepipe ... | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as err:  # never a traceback: translate, or call it a bug
        ops = translate(err, target)
        cause = err.__cause__ or err.__context__
        if ops is None and cause is not None:
            ops = translate(cause, target)  # e.g. boto3's S3UploadFailedError
        if ops is not None:
            return _fail(command, args, ops.code, ops.message)
        if os.environ.get("IMAGEPIPE_DEBUG"):
            raise
        return _fail(
            command,
            args,
            INTERNAL,
            f"unexpected {type(err).__name__}: {err} (a bug: rerun with IMAGEPIPE_DEBUG=1 "
            "for the traceback and report it)",
        )


def _fail(command: str, args: argparse.Namespace, code: int, message: str) -> int:
    import json

    line = " ".join(message.split())  # one line, whatever the message held
    if getattr(args, "json", False):
        print(json.dumps({"error": {"code": code, "message": line}}), flush=True)
    print(f"imagepipe {command}: {line}", file=sys.stderr, flush=True)
    return code
