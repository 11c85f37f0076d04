"""The operating commands' work: `executions`, `show`, `outputs` here, `upload` in
imagepipe.uploads, `backfill` in imagepipe.backfill. Each takes the parsed arguments
and a Target and returns the exit code; errors are raised as OpsError (or botocore's,
which imagepipe.operate.guarded translates)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Any, Final

from rich.table import Table

from imagepipe import display
from imagepipe.executions import (
    ExecutionInfo,
    describe,
    describe_many,
    execution_arn,
    find_by_key,
    history,
    list_summaries,
    map_runs,
    timeline,
)
from imagepipe.target import ITEM_FAILED, OK, USAGE, OpsError, Target

_EXECUTION_NAME: Final = re.compile(r"[0-9A-Za-z_-]{1,80}")


def target_for(args: argparse.Namespace) -> Target:
    """The Target the arguments name: --local, or a deployed stack."""
    if getattr(args, "local", False):
        overrides = [
            flag
            for flag in (
                "source_bucket",
                "destination_bucket",
                "state_machine_arn",
                "backfill_state_machine_arn",
            )
            if getattr(args, flag, None)
        ]
        if overrides:
            names = ", ".join("--" + f.replace("_", "-") for f in overrides)
            raise OpsError(USAGE, f"{names}: only for a deployed stack, not with --local")
        return Target.local_stack(args.stack, args.endpoint)
    if getattr(args, "endpoint", None):
        raise OpsError(
            USAGE, "--endpoint goes with --local (for another AWS endpoint set AWS_ENDPOINT_URL)"
        )
    return Target.deployed(
        args.stack,
        {
            "sourceBucket": args.source_bucket,
            "destinationBucket": args.destination_bucket,
            "stateMachineArn": args.state_machine_arn,
            "backfillStateMachineArn": args.backfill_state_machine_arn,
        },
    )


# -- shared rendering --------------------------------------------------------------------


def rendition_lines(renditions: list[dict[str, Any]], indent: str = "") -> str:
    """key, pixel size and bytes of each rendition, in aligned columns."""
    if not renditions:
        return "-"
    keys = max(len(str(r["key"])) for r in renditions)
    return "\n".join(
        f"{indent}{r['key']!s:<{keys}}  {str(r['width']) + 'x' + str(r['height']):>9}  "
        f"{display.size(r['bytes']):>8}"
        for r in renditions
    )


# -- executions --------------------------------------------------------------------------


def short_name(name: str, keep: int = 8) -> str:
    """The first characters of an execution name: enough for `imagepipe show`."""
    return name if len(name) <= keep + 1 else name[:keep] + "…"


def run_executions(args: argparse.Namespace, target: Target) -> int:
    arn = target.state_machine_arn
    summaries = []
    for summary in list_summaries(target, arn, status=args.status, page_size=min(100, args.limit)):
        summaries.append(summary)
        if len(summaries) >= args.limit:
            break
    infos = describe_many(target, [s["executionArn"] for s in summaries])
    if args.json:
        display.print_json(
            {
                "stateMachineArn": arn,
                "status": args.status,
                "executions": [
                    {
                        **i.to_dict(target),
                        "outcome": i.outcome.to_dict() if i.outcome else None,
                    }
                    for i in infos
                ],
            }
        )
        return OK
    con = display.console()
    if not infos:
        which = f"{args.status} " if args.status else ""
        con.print(f"No {which}executions of {arn} yet.")
        return OK
    title = f"{len(infos)} most recent {args.status or ''} executions".replace("  ", " ")
    table = Table(title=f"{title} of {arn.rsplit(':', 1)[-1]}", title_justify="left")
    table.add_column("started", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("upload", no_wrap=True)  # a key to copy: never folded
    table.add_column("result", overflow="fold", min_width=12)
    table.add_column("execution", no_wrap=True)
    for info in infos:
        outcome = info.outcome
        table.add_row(
            display.moment(info.started, short=True),
            display.status(info.status),
            display.seconds(info.seconds),
            info.key or "-",
            f"{outcome.kind}: {outcome.reason}"
            if outcome
            else (f"{len(info.renditions)} renditions" if info.status == "SUCCEEDED" else "-"),
            display.link(con, target.console_url(info.arn), short_name(info.name)),
        )
    con.print(table)
    if not target.local and not con.is_terminal:  # in a terminal the names are links
        con.print("Console:")
        for info in infos:
            con.print(f"  {short_name(info.name)}  {target.console_url(info.arn)}", soft_wrap=True)
    con.print(
        "[dim]One in detail: imagepipe show EXECUTION (its name, or the first characters "
        "shown here) or the upload's key[/]"
    )
    return OK


# -- show --------------------------------------------------------------------------------


def resolve_execution(target: Target, what: str, search: int) -> ExecutionInfo:
    """An execution by ARN, by name (of the upload or backfill state machine), or by key."""
    if what.startswith("arn:") and ":execution:" in what:
        return describe(target, what)
    from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

    if _EXECUTION_NAME.fullmatch(what) and "." not in what:
        # An execution name (a key has an extension): the upload or the backfill workflow.
        for machine in (target.state_machine_arn, target.backfill_state_machine_arn):
            try:
                return describe(target, execution_arn(machine, what))
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") != "ExecutionDoesNotExist":
                    raise
        # The first characters of a recent execution's name, as `executions` shows them.
        matches = []
        for machine in (target.state_machine_arn, target.backfill_state_machine_arn):
            try:
                for count, summary in enumerate(list_summaries(target, machine)):
                    if count >= search:
                        break
                    if str(summary["name"]).startswith(what):
                        matches.append(summary["executionArn"])
            except ClientError as err:  # no backfill workflow (an older stack)
                if err.response.get("Error", {}).get("Code") != "StateMachineDoesNotExist":
                    raise
        if len(matches) == 1:
            return describe(target, matches[0])
        if len(matches) > 1:
            raise OpsError(USAGE, f"{what} starts {len(matches)} execution names: give more of it")
    key = what if what.startswith(target.upload_prefix) else target.upload_prefix + what.lstrip("/")
    found = find_by_key(target, target.state_machine_arn, key, search=search)
    if found is None:
        raise OpsError(
            ITEM_FAILED,
            f"no execution for {key} among the {search} most recent: check the key "
            "(`imagepipe executions`), or look further with --search N",
        )
    return found


def run_show(args: argparse.Namespace, target: Target) -> int:
    info = resolve_execution(target, args.what, args.search)
    events = history(target, info.arn)
    steps = timeline(events, info)
    runs = map_runs(target, events)
    code = ITEM_FAILED if info.status in {"FAILED", "TIMED_OUT", "ABORTED"} else OK
    if args.json:
        display.print_json(
            {
                "execution": {
                    **info.to_dict(target),
                    "error": info.error,
                    "cause": info.cause,
                },
                "states": [s.to_dict(info.started) for s in steps],
                "mapRuns": runs,
                "renditions": info.renditions,
                "outcome": info.outcome.to_dict() if info.outcome else None,
            }
        )
        return code
    con = display.console()
    con.print(
        f"Execution [bold]{info.name}[/] {display.status(info.status)} "
        f"in {display.seconds(info.seconds)}, started {display.moment(info.started)}"
    )
    if info.key:
        con.print(f"Upload: {info.key}")
    url = target.console_url(info.arn)
    con.print(f"Console: {url}" if url else f"ARN: {info.arn}", soft_wrap=True)
    table = Table(title="State by state", title_justify="left")
    table.add_column("state")
    table.add_column("type")
    table.add_column("start", justify="right")
    table.add_column("duration", justify="right")
    table.add_column("retries", justify="right")
    table.add_column("error", overflow="fold")
    for step in steps:
        label = "  " * step.depth + step.name
        if step.iteration is not None:
            label += f" [dim]#{step.iteration}[/]"
        error = ""
        if step.error:
            cause = step.cause if not step.cause or len(step.cause) <= 90 else step.cause[:89] + "…"
            error = f"[red]{step.error}[/]" + (f": {cause}" if cause else "")
        table.add_row(
            label,
            step.type,
            f"+{(step.entered - info.started).total_seconds():.3f} s",
            display.seconds(step.seconds),
            str(step.retries) if step.attempts else "",
            error,
        )
    con.print(table)
    for run in runs:
        counts = run.get("itemCounts") or {}
        con.print(
            f"Map run of {run['state']}: {run.get('status') or '?'}, "
            f"{counts.get('total', '?')} item(s): {counts.get('succeeded', 0)} succeeded, "
            f"{counts.get('failed', 0)} failed, {counts.get('running', 0)} running"
        )
    outcome = info.outcome
    if outcome is not None:
        con.print(
            f"[red]Dead-lettered[/] as [bold]{outcome.kind}: {outcome.reason}[/] "
            f"({outcome.detail})",
            soft_wrap=True,
        )
    elif info.renditions:
        con.print("Renditions:")
        con.print(rendition_lines(info.renditions, indent="  "))
    return code


# -- outputs -----------------------------------------------------------------------------


def outputs_document(target: Target) -> dict[str, Any]:
    bucket = target.source_bucket
    prefix = target.upload_prefix
    local_flags = " --local" + (f" --stack {target.stack}" if target.stack != "dev" else "")
    aws = f"aws --endpoint-url {target.endpoint}" if target.local else "aws"
    stack_flag = "" if target.stack == "dev" else f" --stack {target.stack}"
    flags = local_flags if target.local else stack_flag
    commands = {
        "upload": f"{aws} s3 cp ./photo.jpg s3://{bucket}/{prefix}photo.jpg",
        "uploadFolder": f"{aws} s3 cp --recursive ./photos s3://{bucket}/{prefix}photos/",
        "imagepipeUpload": f"imagepipe upload ./photo.jpg --wait{flags}",
        "listRenditions": f"{aws} s3 ls --recursive s3://{target.destination_bucket}/",
    }
    if target.local:
        commands["environment"] = (
            "export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
            f"AWS_DEFAULT_REGION={target.region}"
        )
    consoles: dict[str, str | None] = {
        "executions": None,
        "backfillExecutions": None,
        "sourceBucket": None,
        "destinationBucket": None,
        "deadLetterQueue": None,
    }
    if not target.local:
        region = target.region
        s3 = f"https://{region}.console.aws.amazon.com/s3/buckets"
        consoles = {
            "executions": target.state_machine_console_url(target.state_machine_arn),
            "backfillExecutions": target.state_machine_console_url(
                target.backfill_state_machine_arn
            ),
            "sourceBucket": f"{s3}/{bucket}?region={region}&prefix={prefix}",
            "destinationBucket": f"{s3}/{target.destination_bucket}?region={region}",
            "deadLetterQueue": None,
        }
        dlq = target.outputs.get("deadLetterQueueUrl")
        if dlq:
            from urllib.parse import quote

            consoles["deadLetterQueue"] = (
                f"https://{region}.console.aws.amazon.com/sqs/v3/home?region={region}"
                f"#/queues/{quote(str(dlq), safe='')}"
            )
    return {
        "stack": target.stack,
        "local": target.local,
        "endpoint": target.endpoint,
        "region": target.region or None,
        "outputs": {
            **{k: v for k, v in sorted(target.outputs.items())},
            "backfillStateMachineArn": target.backfill_state_machine_arn,
        },
        "uploadPrefix": prefix,
        "allowedSuffixes": list(target.settings.allowed_suffixes),
        "renditions": [r.to_dict() for r in target.settings.renditions],
        "consoleUrls": consoles,
        "commands": commands,
    }


def run_outputs(args: argparse.Namespace, target: Target) -> int:
    document = outputs_document(target)
    if args.json:
        display.print_json(document)
        return OK
    con = display.console()
    where = f"local, {target.endpoint}" if target.local else f"AWS {target.region}"
    con.print(f"Stack [bold]{target.stack}[/] ({where})")
    rows = {
        **document["outputs"],
        "uploadPrefix": document["uploadPrefix"],
        "renditions": ", ".join(
            f"{r['name']} {r['width']}x{r['height']} {r['fit']} {r['format']}"
            for r in document["renditions"]
        ),
    }
    for name, value in rows.items():
        con.print(f"  [cyan]{name:<24}[/] {value}", soft_wrap=True)
    consoles = {k: v for k, v in document["consoleUrls"].items() if v}
    if consoles:
        con.print("\nConsole:")
        for name, url in consoles.items():
            con.print(f"  {name:<20} {url}", soft_wrap=True)
    con.print("\nUpload:")
    for name, command in document["commands"].items():
        con.print(f"  [dim]# {name}[/]\n  {command}", soft_wrap=True)
    return OK


def _upload(args: argparse.Namespace, target: Target) -> int:
    from imagepipe.uploads import run_upload

    return run_upload(args, target)


def _backfill(args: argparse.Namespace, target: Target) -> int:
    from imagepipe.backfill import run_backfill

    return run_backfill(args, target)


COMMANDS: Final[dict[str, Callable[[argparse.Namespace, Target], int]]] = {
    "upload": _upload,
    "executions": run_executions,
    "show": run_show,
    "backfill": _backfill,
    "outputs": run_outputs,
}
