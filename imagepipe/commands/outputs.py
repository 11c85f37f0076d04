"""`imagepipe outputs`: the stack's names, console links and ready-to-paste commands.
It makes no AWS call."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imagepipe.commands.options import command_parser
from imagepipe.errors import ExitCode

if TYPE_CHECKING:
    from rich.console import Console

    from imagepipe.target import Target

NAME = "outputs"
STACK = True


def register(subparsers: Any) -> None:
    command_parser(
        subparsers,
        NAME,
        "the stack's buckets, state machines, console links and upload commands",
        "The stack's outputs: buckets, state machines, dead-letter queue, topic, their "
        "console links, the renditions it makes, and ready-to-paste upload commands.",
        stack=True,
    )


@dataclass
class Outputs:
    target: Target

    def to_dict(self) -> dict[str, Any]:
        target = self.target
        return {
            "stack": target.stack,
            "local": target.local,
            "endpoint": target.endpoint,
            "region": target.region or None,
            "outputs": {
                **dict(sorted(target.outputs.items())),
                "backfillStateMachineArn": target.outputs.get("backfillStateMachineArn"),
            },
            "uploadPrefix": target.upload_prefix,
            "allowedSuffixes": list(target.settings.allowed_suffixes),
            "renditions": [r.to_dict() for r in target.settings.renditions],
            "consoleUrls": _console_urls(target),
            "commands": _commands(target),
        }


def _commands(target: Target) -> dict[str, str]:
    bucket, prefix = target.source_bucket, target.upload_prefix
    aws = f"aws --endpoint-url {target.endpoint}" if target.local else "aws"
    commands = {
        "upload": f"{aws} s3 cp ./photo.jpg s3://{bucket}/{prefix}photo.jpg",
        "uploadFolder": f"{aws} s3 cp --recursive ./photos s3://{bucket}/{prefix}photos/",
        "imagepipeUpload": f"imagepipe upload ./photo.jpg --wait{target.cli_flags}",
        "listRenditions": f"{aws} s3 ls --recursive s3://{target.destination_bucket}/",
    }
    if target.local:
        commands["environment"] = (
            "export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
            f"AWS_DEFAULT_REGION={target.region}"
        )
    return commands


def _console_urls(target: Target) -> dict[str, str | None]:
    if target.local:  # the emulator has no console: `imagepipe local serve` has its own
        console = target.local_console
        return {
            "executions": console,
            "backfillExecutions": None,
            "sourceBucket": None,
            "destinationBucket": None,
            "deadLetterQueue": f"{console}#/dead-letters" if console else None,
        }
    from urllib.parse import quote

    from imagepipe.target import states_console

    region, prefix = target.region, target.upload_prefix
    s3 = f"https://{region}.console.aws.amazon.com/s3/buckets"
    sqs = f"https://{region}.console.aws.amazon.com/sqs/v3/home?region={region}#/queues"
    backfill = target.outputs.get("backfillStateMachineArn")
    dlq = target.outputs.get("deadLetterQueueUrl")
    return {
        "executions": states_console(target.state_machine_arn, "statemachines/view"),
        "backfillExecutions": states_console(backfill, "statemachines/view") if backfill else None,
        "sourceBucket": f"{s3}/{target.source_bucket}?region={region}&prefix={prefix}",
        "destinationBucket": f"{s3}/{target.destination_bucket}?region={region}",
        "deadLetterQueue": f"{sqs}/{quote(str(dlq), safe='')}" if dlq else None,
    }


def run(args: argparse.Namespace, target: Target) -> ExitCode:
    from imagepipe import display

    display.emit(args, Outputs(target), show)
    return ExitCode.OK


def show(con: Console, result: Outputs) -> None:
    from imagepipe import display

    document, target = result.to_dict(), result.target
    where = f"local, {target.endpoint}" if target.local else f"AWS {target.region}"
    con.print(display.markup("Stack [bold]{}[/] ({})", target.stack, where))
    rows = {
        **document["outputs"],
        "uploadPrefix": document["uploadPrefix"],
        "renditions": ", ".join(
            f"{r['name']} {r['width']}x{r['height']} {r['fit']} {r['format']}"
            for r in document["renditions"]
        ),
    }
    for name, value in rows.items():
        con.print(display.markup("  [cyan]{:<24}[/] {}", name, value), soft_wrap=True)
    consoles = {k: v for k, v in document["consoleUrls"].items() if v}
    if consoles:
        con.print("\nConsole:")
        for name, url in consoles.items():
            con.print(display.markup("  {:<20} {}", name, url), soft_wrap=True)
    con.print("\nUpload:")
    for name, command in document["commands"].items():
        con.print(display.markup("  [dim]# {}[/]\n  {}", name, command), soft_wrap=True)
