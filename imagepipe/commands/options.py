"""What the commands' parsers share: the "which stack" arguments, --json, --wait and
--timeout, the help layout and the exit-status epilog. Only argparse: this is imported
for `--help`."""

from __future__ import annotations

import argparse
import math
import os
from typing import TYPE_CHECKING, TypeAlias

from imagepipe.stack_outputs import GIVEN_OUTPUTS, flag, variable

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
    "--json --stack NAME`, or the names from the flags below or "
    + ", ".join(variable(output) for output, spec in GIVEN_OUTPUTS.items() if spec)
    + "; AWS credentials and region as the AWS CLI finds them), or with --local the one a "
    "running `imagepipe local serve` serves."
)


class _ParagraphFormatter(argparse.HelpFormatter):
    """Wraps each paragraph (blank-line separated) of the description on its own."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        fill = super()._fill_text
        return "\n\n".join(fill(paragraph, width, indent) for paragraph in text.split("\n\n"))


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
    codes as epilog, and with `stack` the "which stack" group (--stack, --local,
    --endpoint, the deployed stack's names), with `json_output` --json."""
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description=f"{description}\n\n{WHERE}" if stack else description,
        epilog=EXIT_CODES,
        formatter_class=_ParagraphFormatter,
    )
    if stack:
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
        for output, spec in GIVEN_OUTPUTS.items():
            if spec is not None:
                aliases = ("--dlq-url",) if output == "deadLetterQueueUrl" else ()
                metavar, what = spec
                where.add_argument(
                    flag(output), *aliases, metavar=metavar, help=f"{what} (deployed stack)"
                )
    if json_output:
        parser.add_argument(
            "--json", action="store_true", help="print one JSON document (shapes: docs/cli.md)"
        )
    return parser


def wait_options(parser: argparse.ArgumentParser, follows: str, timeout: float) -> None:
    """--wait, to follow `follows` to the end, and how long it may take (--timeout): what
    upload and backfill share, each with its own default."""
    parser.add_argument("--wait", action="store_true", help=f"follow {follows}")
    parser.add_argument(
        "--timeout",
        default=timeout,
        type=seconds,
        metavar="SECONDS",
        help=f"with --wait: give up after this long (default: {timeout:g})",
    )


def seconds(text: str) -> float:
    """argparse type: a finite number of seconds above 0 (nan or -1 would follow forever
    or not at all)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def positive(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
