"""`imagepipe show EXECUTION|KEY`: one execution, state by state, from its history."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from imagepipe import executions
from imagepipe.catalogue import CatalogueRecord, get_record
from imagepipe.commands.options import command_parser, positive
from imagepipe.errors import ExitCode, OpsError
from imagepipe.executions import FAILED_STATUSES, ExecutionInfo, Step

if TYPE_CHECKING:
    from rich.console import Console

    from imagepipe.target import Target

NAME = "show"
STACK = True
_EXECUTION_NAME: Final = re.compile(r"[0-9A-Za-z_-]{1,80}")


def register(subparsers: Any) -> None:
    parser = command_parser(
        subparsers,
        NAME,
        "one execution state by state (by execution ARN, name, or uploaded key)",
        "The state-by-state timeline of one execution from its history: each state, "
        "when it started (from the execution's start), how long it took, its retries and "
        "its error; then the renditions it made or why it was dead-lettered, and the "
        "upload's catalogue record (status, reason, renditions). EXECUTION is "
        "an execution ARN or name; KEY an uploaded object's key (with or without the "
        "upload prefix), whose newest execution is shown. Exit status 1 if it failed.",
        stack=True,
    )
    parser.add_argument("what", metavar="EXECUTION|KEY")
    parser.add_argument(
        "--search",
        default=500,
        type=positive,
        metavar="N",
        help="for a KEY: how many recent executions to look through (default: 500)",
    )


@dataclass
class Shown:
    """One execution with its timeline: the result behind `show`'s table and --json."""

    target: Target
    execution: ExecutionInfo
    steps: list[Step]
    map_runs: list[dict[str, Any]]
    record: CatalogueRecord | None = None  # the upload's catalogue record, if it has one

    @property
    def failed(self) -> bool:
        return self.execution.status in FAILED_STATUSES

    def to_dict(self) -> dict[str, Any]:
        info = self.execution
        return {
            "execution": {**info.to_dict(self.target), "error": info.error, "cause": info.cause},
            "states": [s.to_dict(info.started) for s in self.steps],
            "mapRuns": self.map_runs,
            "renditions": info.renditions,
            "manifestUrl": info.manifest_url,
            "outcome": info.outcome.to_dict() if info.outcome else None,
            "catalogue": self.record.to_dict() if self.record else None,
        }


def shown(target: Target, info: ExecutionInfo) -> Shown:
    """Everything `show` prints of `info` (its history read once)."""
    events = executions.history(target, info.arn)
    steps = executions.timeline(events, info)
    runs = executions.map_runs(target, events)
    return Shown(target, info, steps, runs, _record(target, info.key))


def _record(target: Target, key: str | None) -> CatalogueRecord | None:
    """The catalogue record of the upload `key` (None: no key, no record, or a stack
    deployed before the catalogue, which has no catalogueTable output)."""
    table = target.outputs.get("catalogueTable")
    return get_record(target.client("dynamodb"), str(table), key) if key and table else None


def run(args: argparse.Namespace, target: Target) -> ExitCode:
    from imagepipe import display

    result = shown(target, resolve(target, args.what, args.search))
    display.emit(args, result, show)
    return ExitCode.ITEM_FAILED if result.failed else ExitCode.OK


def resolve(target: Target, what: str, search: int) -> ExecutionInfo:
    """An execution by ARN, by name (or its first characters) in the upload or backfill
    state machine, or by the key of the upload that started it."""
    if what.startswith("arn:") and ":execution:" in what:
        return executions.describe(target, what)
    if _EXECUTION_NAME.fullmatch(what) and "." not in what:  # a key has an extension
        found = _by_name(target, what, search)
        if found is not None:
            return found
    prefix = target.upload_prefix
    key = what if what.startswith(prefix) else prefix + what.lstrip("/")
    info = executions.find_by_key(target, key, search=search)
    # Else the execution its catalogue record names: an upload older than the recent
    # listings, or an original recorded by a backfill (unless it has left the history).
    record = None if info else _record(target, key)
    if record is not None and record.execution_arn:
        info = executions.describe_if_any(target, record.execution_arn)
    if info is None:
        raise OpsError(
            ExitCode.ITEM_FAILED,
            f"no execution for {key} among the {search} most recent: check the key "
            f"(`imagepipe executions{target.cli_flags}`), or look further with --search N",
        )
    return info


def _by_name(target: Target, name: str, search: int) -> ExecutionInfo | None:
    machines = [target.state_machine_arn, target.outputs.get("backfillStateMachineArn")]
    known = [str(m) for m in machines if m]
    for machine in known:
        found = executions.describe_if_any(target, executions.execution_arn(machine, name))
        if found is not None:
            return found
    # The first characters of a recent execution's name, as `executions` shows them.
    matches = [
        summary["executionArn"]
        for machine in known
        for summary in executions.list_summaries(target, machine, limit=search)
        if str(summary["name"]).startswith(name)
    ]
    if len(matches) > 1:
        raise OpsError(ExitCode.USAGE, f"{name} starts {len(matches)} execution names: give more")
    return executions.describe(target, matches[0]) if matches else None


def show(con: Console, result: Shown) -> None:
    from imagepipe import display

    info = result.execution
    con.print(
        display.markup(
            f"Execution [bold]{{}}[/] {{}} in {display.seconds(info.seconds)}, "
            f"started {display.moment(info.started)}",
            info.name,
            display.status(info.status),
        )
    )
    if info.key:
        con.print(display.markup("Upload: {}", info.key))
    display.console_line(con, result.target, info.arn)
    con.print(_table(result))
    for run in result.map_runs:
        counts = run.get("itemCounts") or {}
        con.print(
            display.markup(
                f"Map run of {{}}: {{}}, {display.plural(counts.get('total', 0), 'item')}: "
                f"{counts.get('succeeded', 0)} succeeded, {counts.get('failed', 0)} failed, "
                f"{counts.get('running', 0)} running",
                run["state"],
                run.get("status") or "?",
            )
        )
    outcome = info.outcome
    if outcome is not None:
        # Only a failure that its Catch sent on is in the dead-letter queue; a rejection
        # is recorded and announced, a timeout or abort ran no Catch.
        how = "Dead-lettered as" if info.status == "FAILED" else "Not processed:"
        con.print(
            display.markup(
                f"[red]{how}[/] [bold]{{}}: {{}}[/] ({{}})",
                outcome.kind,
                outcome.reason,
                outcome.detail,
            ),
            soft_wrap=True,
        )
    elif info.renditions:
        con.print("Renditions:")
        con.print(display.cell(display.rendition_lines(info.renditions, indent="  ")))
        if info.manifest_url:
            con.print(display.markup("Manifest: {}", info.manifest_url), soft_wrap=True)
    record = result.record
    if record is not None:
        why = f" ({record.reason})" if record.reason else ""
        same = f", same bytes as {record.duplicate_of}" if record.duplicate_of else ""
        mine = " by this execution" if record.execution_arn == info.arn else ""
        con.print(
            display.markup(
                "Catalogue: [bold]{}[/]{}{}, recorded{} {}",
                *(record.status, why, same, mine, record.updated_at or ""),
            ),
            soft_wrap=True,
        )


def _table(result: Shown) -> Any:
    from rich.table import Table

    from imagepipe import display

    table = Table(title="State by state", title_justify="left")
    for column in ("state", "type", "start", "duration", "retries", "error"):
        right = column in {"start", "duration", "retries"}
        table.add_column(column, justify="right" if right else "left", overflow="fold")
    for step in result.steps:
        label = display.cell("  " * step.depth + step.name)
        if step.iteration is not None:  # a Map iteration: named by its item
            item = step.item or "#" + str(step.iteration)
            label = display.markup("{} [dim]({})[/]", label, item)
        error = display.cell("")
        if step.error:
            cause = step.cause if not step.cause or len(step.cause) <= 90 else step.cause[:89] + "…"
            error = display.markup("[red]{}[/]" + (": {}" if cause else ""), step.error, cause)
        table.add_row(
            label,
            display.cell(step.type),
            f"+{(step.entered - result.execution.started).total_seconds():.3f} s",
            display.seconds(step.seconds),
            str(step.retries) if step.attempts else "",
            error,
        )
    return table
