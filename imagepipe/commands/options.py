"""What the commands' parsers share: the "which stack" arguments, --json, the help
layout and the exit-status epilog. Only argparse: this is imported for `--help`."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_CODES = (
    "exit status: 0 ok; 1 an item failed (rejected, failed, not found, timed out); "
    "2 usage error (bad arguments, a missing input file, a bad stack config); "
    "3 stack not found / not deployed / no local stack running; "
    "4 AWS error (credentials, permissions, network); 5 a bug in imagepipe"
)
WHERE = (
    "The stack: a deployed one by default (names and settings from `pulumi stack output "
    "--json --stack NAME`, or the names from the flags below or IMAGEPIPE_SOURCE_BUCKET, "
    "IMAGEPIPE_DESTINATION_BUCKET, IMAGEPIPE_STATE_MACHINE_ARN, "
    "IMAGEPIPE_BACKFILL_STATE_MACHINE_ARN, IMAGEPIPE_DEAD_LETTER_QUEUE_URL; AWS "
    "credentials and region as the AWS CLI finds them), or with --local the one a running "
    "`imagepipe local serve` serves."
)


class _ParagraphFormatter(argparse.HelpFormatter):
    """Wraps each paragraph (blank-line separated) of the description on its own."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n\n".join(
            super(_ParagraphFormatter, self)._fill_text(paragraph, width, indent)
            for paragraph in text.split("\n\n")
        )


def command_parser(
    subparsers: Subparsers,
    name: str,
    help_text: str,
    description: str,
    *,
    stack: bool = False,
    json_output: bool = True,
) -> argparse.ArgumentParser:
    """A command's parser: its description (plus WHERE for a stack command), the exit
    codes as epilog, and with `stack` the shared stack arguments, with `json_output` --json."""
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description=f"{description}\n\n{WHERE}" if stack else description,
        epilog=EXIT_CODES,
        formatter_class=_ParagraphFormatter,
    )
    if stack:
        stack_arguments(parser)
    if json_output:
        json_flag(parser)
    return parser


def stack_arguments(parser: argparse.ArgumentParser) -> None:
    """The "which stack" group: --stack, --local, --endpoint, and the deployed stack's
    names (imagepipe.target.OUTPUT_SOURCES: the flag of each output)."""
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
        help="with --local: the server's URL (default: the one serve recorded)",
    )
    names = (
        ("--source-bucket", "NAME", "source bucket"),
        ("--destination-bucket", "NAME", "renditions bucket"),
        ("--state-machine-arn", "ARN", "upload state machine"),
        ("--backfill-state-machine-arn", "ARN", "backfill state machine"),
        ("--dead-letter-queue-url", "URL", "dead-letter queue"),
    )
    for flag, metavar, what in names:
        aliases = ("--dlq-url",) if flag == "--dead-letter-queue-url" else ()
        where.add_argument(flag, *aliases, metavar=metavar, help=f"{what} (deployed stack)")


def json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document (shapes: docs/cli.md)"
    )


def positive(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
