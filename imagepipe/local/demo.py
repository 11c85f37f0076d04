"""`imagepipe local demo`: deploy the stack on moto, push sample images through, show it.

What it shows is what the AWS console and CLI would: one execution per upload with its
status and duration, the renditions (pixel size and bytes) or the dead-letter reason,
the SNS notifications, the dead-letter queue, one execution's state-by-state history,
and where the renditions were written. The exit status says whether every upload ended
as expected: renditions for the good files, the dead-letter queue with the expected
reason code for the bad ones, and nothing else anywhere.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from imagepipe.executions import ExecutionInfo as Execution
from imagepipe.local.samples import Sample, demo_samples
from imagepipe.local.stack import (
    DeadLetter,
    LocalStack,
    Notification,
    deploy_local,
    state_steps,
)

# moto's interpreter logs every error a state machine catches at ERROR level, with the
# whole state's repr: rejections are expected here and reported below instead.
QUIET_LOGGERS: Final = (
    "moto.stepfunctions.parser.asl.component.eval_component",
    "imagepipe.local.providers.sfn",  # its definition changes are printed by the demo itself
    # "ToleratedFailurePercentage declarations currently have no effect": see the report.
    "moto.stepfunctions.parser.asl.parse.preprocessor",
)


@dataclass
class Outcome:
    """What became of one sample, and whether that is what it should be."""

    sample: Sample
    key: str
    execution: Execution | None = None
    dead_letters: list[DeadLetter] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def judge(
    sample: Sample,
    key: str,
    executions: list[Execution],
    dead_letters: list[DeadLetter],
    notifications: list[Notification],
    rendition_names: list[str],
) -> Outcome:
    """Compare what happened to `key` with what `sample` says should happen."""
    outcome = Outcome(sample, key)
    mine = [e for e in executions if e.key == key]
    outcome.dead_letters = [d for d in dead_letters if d.key == key]
    outcome.notifications = [
        n
        for n in notifications
        if isinstance(n.message, dict) and n.message["source"]["key"] == key
    ]
    if len(mine) != 1:
        outcome.problems.append(f"{len(mine)} executions, expected 1")
    else:
        outcome.execution = mine[0]
    status = outcome.execution.status if outcome.execution else None
    if sample.good:
        if status != "SUCCEEDED":
            outcome.problems.append(f"execution {status}, expected SUCCEEDED")
        made = sorted(r["name"] for r in renditions_of(outcome.execution))
        if made != sorted(rendition_names):
            outcome.problems.append(f"renditions {made}, expected {sorted(rendition_names)}")
        if len(outcome.notifications) != 1:
            outcome.problems.append(f"{len(outcome.notifications)} notifications, expected 1")
        if outcome.dead_letters:
            outcome.problems.append("unexpected dead-letter message")
    else:
        if status != "FAILED":
            outcome.problems.append(f"execution {status}, expected FAILED")
        reasons = [d.reason for d in outcome.dead_letters]
        if reasons != [sample.reason]:
            outcome.problems.append(f"dead-letter reasons {reasons}, expected [{sample.reason}]")
        if outcome.notifications:
            outcome.problems.append("unexpected notification")
    return outcome


def renditions_of(execution: Execution | None) -> list[dict[str, Any]]:
    """The renditions an execution made (its output, as the Notify state published it)."""
    if execution is None or not isinstance(execution.output, dict):
        return []
    renditions = execution.output.get("renditions") or []
    return [r for r in renditions if isinstance(r, dict)]


def _size(n: int) -> str:
    if n < 1024:
        return f"{n:,} B"
    if n < 1024 * 1024:
        return f"{n / 1024:,.1f} KB"
    return f"{n / 1024 / 1024:,.1f} MB"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def uploads_table(outcomes: list[Outcome]) -> Table:
    table = Table(title="Uploads: one execution each", title_justify="left", show_lines=True)
    table.add_column("upload", overflow="fold", ratio=3)
    table.add_column("what", overflow="fold", ratio=2)
    table.add_column("status")
    table.add_column("duration", justify="right")
    table.add_column("renditions, or dead-letter reason", no_wrap=True)
    table.add_column("as expected", overflow="fold", ratio=1)
    for o in outcomes:
        e = o.execution
        status = e.status if e else "-"
        colour = "green" if status == "SUCCEEDED" else "red" if status == "FAILED" else "yellow"
        if o.sample.good:
            result = "\n".join(
                f"{r['name']:<7}{r['width']:>5}x{r['height']:<5}{r['format'].lower():<5}"
                f"{_size(int(r['bytes'])):>9}"
                for r in renditions_of(e)
            )
        else:
            result = "\n".join(f"{d.kind}: [bold]{d.reason}[/]" for d in o.dead_letters)
        verdict = "[green]yes[/]" if o.ok else "[red]no: " + "; ".join(o.problems) + "[/]"
        table.add_row(
            o.key,
            f"{o.sample.description}\n{_size(len(o.sample.data))}",
            f"[{colour}]{status}[/]",
            _seconds(e.seconds if e else None),
            result,
            verdict,
        )
    return table


def notifications_table(notifications: list[Notification]) -> Table:
    table = Table(title="SNS notifications received", title_justify="left")
    for column in ("subject", "event", "source", "renditions"):
        table.add_column(column, overflow="fold")
    for n in notifications:
        message = n.message if isinstance(n.message, dict) else {}
        source = message.get("source", {})
        table.add_row(
            n.subject or "",
            n.attributes.get("event", ""),
            f"{source.get('key')} ({source.get('width')}x{source.get('height')} "
            f"{source.get('format')})",
            ", ".join(r.get("name", "?") for r in message.get("renditions", [])),
        )
    return table


def dead_letters_table(dead_letters: list[DeadLetter]) -> Table:
    table = Table(title="Dead-letter queue", title_justify="left")
    for column in ("kind", "reason", "upload", "message", "execution"):
        table.add_column(column, overflow="fold")
    for d in dead_letters:
        body = d.body if isinstance(d.body, dict) else {}
        table.add_row(
            d.kind,
            f"[bold]{d.reason}[/]",
            d.key or "?",
            str(body.get("message", ""))[:120],
            (d.execution_arn or "").rsplit(":", 1)[-1],
        )
    return table


def history_table(stack: LocalStack, execution: Execution) -> Table:
    steps = state_steps(stack.history(execution.arn))
    table = Table(
        title=f"Execution {execution.name} ({execution.key}): state by state",
        title_justify="left",
    )
    for column in ("state", "type", "entered", "exited", "duration"):
        table.add_column(column)
    t0 = execution.started

    def offset(moment: Any) -> str:
        return "-" if moment is None else f"+{(moment - t0).total_seconds():.3f} s"

    # A Map runs its states once per item: number them as the console's iterations.
    repeated = {s.name for s in steps if sum(1 for t in steps if t.name == s.name) > 1}
    seen: dict[str, int] = {}
    for step in steps:
        label = step.name
        if step.name in repeated:
            label = f"  {step.name} (iteration {seen.setdefault(step.name, 0)})"
            seen[step.name] += 1
        table.add_row(
            label, step.type, offset(step.entered), offset(step.exited), _seconds(step.seconds)
        )
    return table


def _process(stack: LocalStack, expected: int, console: Console) -> None:
    """pump() in a thread, with a progress bar over finished executions."""
    failure: list[BaseException] = []

    def work() -> None:
        try:
            stack.pump()
        except BaseException as err:  # shown below, in the main thread
            failure.append(err)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    columns = (
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(
            "Processing uploads (pipe -> Step Functions -> Lambda)", total=expected
        )
        while worker.is_alive():
            finished = [
                e for e in _statuses(stack) if e in {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
            ]
            progress.update(task, completed=len(finished))
            worker.join(0.2)
        progress.update(task, completed=len([s for s in _statuses(stack) if s != "RUNNING"]))
    if failure:
        raise failure[0]


def _statuses(stack: LocalStack) -> list[str]:
    sfn = stack.clients.client("stepfunctions")
    statuses: list[str] = []
    for page in sfn.get_paginator("list_executions").paginate(
        stateMachineArn=stack.state_machine_arn
    ):
        statuses += [e["status"] for e in page["executions"]]
    return statuses


def run_demo(
    out: Path | str = "out", stack_name: str = "dev", console: Console | None = None
) -> int:
    """The demo; returns the process exit status (0: every upload ended as expected)."""
    console = console or Console()
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    started = time.monotonic()
    with console.status("Generating sample images"):
        samples = demo_samples()
    with console.status(f"Deploying stack [bold]{stack_name}[/] on moto (the real Pulumi program)"):
        stack = deploy_local(stack_name)
    try:
        console.print(
            f"Deployed [bold]{len(stack.resources)}[/] resources in "
            f"{time.monotonic() - started:.1f} s: source [cyan]s3://{stack.source_bucket}[/], "
            f"renditions [cyan]s3://{stack.destination_bucket}[/], "
            f"backups [cyan]s3://{stack.backup_bucket}[/]"
        )
        console.print(f"State machine [cyan]{stack.state_machine_arn}[/]")
        for machine, changes in stack.definition_changes.items():
            console.print(f"[dim]Local only, for moto, in {machine}: {'; '.join(changes)}[/]")
        keys = []
        with console.status(f"Uploading {len(samples)} files"):
            for sample in samples:
                keys.append(stack.upload(sample.data, stack.upload_key(sample.name)))
        _process(stack, len(samples), console)
        return _report(stack, samples, keys, Path(out), console, started)
    finally:
        stack.close()


def _report(
    stack: LocalStack,
    samples: list[Sample],
    keys: list[str],
    out: Path,
    console: Console,
    started: float,
) -> int:
    executions = stack.executions()
    dead_letters = stack.dlq_messages()
    notifications = stack.notifications()
    names = [r.name for r in stack.settings.renditions]
    outcomes = [
        judge(s, k, executions, dead_letters, notifications, names)
        for s, k in zip(samples, keys, strict=True)
    ]
    console.print(uploads_table(outcomes))
    console.print(notifications_table(notifications))
    console.print(dead_letters_table(dead_letters))
    shown = next((o.execution for o in outcomes if o.sample.good and o.execution), None) or (
        executions[0] if executions else None
    )
    if shown is not None:
        console.print(history_table(stack, shown))
    written = stack.download_renditions(out)
    total = sum(p.stat().st_size for p in written)
    console.print(
        f"Renditions written to [bold]{out.resolve()}[/]: {len(written)} files, {_size(total)} "
        f"(<rendition>/<key>), e.g. {written[0].relative_to(out) if written else '-'}"
    )
    problems = [f"{o.key}: {p}" for o in outcomes for p in o.problems]
    expected_keys = set(keys)
    problems += [
        f"dead-letter message for an unknown upload: {d.key}"
        for d in dead_letters
        if d.key not in expected_keys
    ]
    left = stack.queue_depth(stack.ingest_queue_url)
    if left:
        problems.append(f"{left} message(s) left in the ingest queue")
    elapsed = time.monotonic() - started
    if problems:
        console.print(f"[red bold]{len(problems)} problem(s)[/] after {elapsed:.1f} s:")
        for problem in problems:
            console.print(f"  [red]- {problem}[/]")
        return 1
    good = sum(1 for s in samples if s.good)
    console.print(
        f"[green bold]Every upload ended as expected[/] in {elapsed:.1f} s: {good} processed, "
        f"{len(samples) - good} dead-lettered with their reason."
    )
    return 0
