"""`imagepipe redrive`: once the cause is fixed, restart what the dead-letter queue holds.

For each message (oldest first, as SQS hands them out, up to --max):

- a "failed" message from a state machine (`kind`, `reason`, `executionArn`, `input`):
  a new execution of that state machine with the original input;
- a raw S3 event (the ingest queue's redrive policy moved it after the pipe could not
  start an execution): wrapped into the pipe's input shape (imagepipe.messages, the one
  definition the local pipe uses too) and started on the upload state machine;
- a "rejected" message is skipped with its reason: the same bytes would be rejected
  again (a fixed file, uploaded again, makes its own event). --include-rejected
  restarts them anyway.

A message is deleted only after StartExecution accepted the restart; a skipped message,
a failed restart and everything in a --dry-run are made visible again at the end. Each
restart is named `redrive-<message id>`, so running the command again after it was cut
short cannot start the same restart twice (Step Functions refuses the name, which
counts as done).

Why StartExecution and not RedriveExecution: every DLQ message comes from an execution
that caught its error, sent the message and then ended in a Fail state. RedriveExecution
resumes an execution at the step that failed, which is that Fail state: the inspect,
backup and resize steps it skipped past all count as successful, so a redrive would
fail again at once without redoing any work (and the message, deleted, would be lost).
A fresh execution from the original input redoes the work; every output key is
deterministic, so what the first attempt wrote is overwritten with the same bytes.
(moto does not implement RedriveExecution either.)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from imagepipe.messages import DeadLetter, parse_json, pipe_input, s3_records, sqs_record
from imagepipe.operate import _positive, stack_arguments

if TYPE_CHECKING:
    from imagepipe.target import Target

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

METHOD: Final = "StartExecution"
VISIBILITY_SECONDS: Final = 300
"""How long received messages stay hidden while the command works on them."""


class HasClients(Protocol):
    """Anything that hands out boto3 clients: imagepipe.target.Target,
    imagepipe.local.clients.Clients."""

    def client(self, service: str) -> Any: ...


# -- what to do with one message -------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A restart (state machine and input), or why not (`skip`)."""

    state_machine_arn: str | None = None
    input: str | None = None
    skip: str | None = None
    note: str = ""


def state_machine_of(execution_arn: str) -> tuple[str | None, str | None]:
    """(the state machine that ran an execution, a reason it cannot be restarted there).

    arn:aws:states:<region>:<account>:execution:<machine>:<name> names its machine; a
    Distributed Map child's (<machine>/<map run>:<name>) is one item of a map run.
    """
    parts = execution_arn.split(":")
    if len(parts) < 8 or parts[0] != "arn" or parts[5] not in ("execution", "express"):
        return None, f"not an execution ARN: {execution_arn!r}"
    machine = parts[6]
    if "/" in machine:
        return None, (
            "an item of a backfill map run: run the backfill again "
            "(`imagepipe backfill --only-missing`)"
        )
    return ":".join([*parts[:5], "stateMachine", machine]), None


def plan(
    letter: DeadLetter,
    message: Mapping[str, Any],
    *,
    upload_state_machine_arn: str,
    source_queue_arn: str,
    include_rejected: bool = False,
) -> Plan:
    """What to do with one received dead-letter `message` (whose body is `letter`)."""
    kind = letter.kind
    if kind == "rejected" and not include_rejected:
        return Plan(
            skip=f"rejected ({letter.reason}): the same file would be rejected again; "
            "upload a fixed file, or use --include-rejected"
        )
    if kind == "redriven":
        records = s3_records(letter.body)
        if not records:
            return Plan(skip="not an S3 event notification (nothing to restart)")
        events = sorted({str(r.get("eventName", "?")) for r in records})
        if not all(e.startswith("ObjectCreated:") for e in events):
            return Plan(skip=f"an S3 {', '.join(events)} event: only uploads are restarted")
        record = sqs_record(message, source_queue_arn)
        return Plan(
            state_machine_arn=upload_state_machine_arn,
            input=pipe_input([record]),
            note="raw S3 event from the ingest queue, given to the state machine as the "
            "pipe gives it",
        )
    body = letter.body if isinstance(letter.body, dict) else {}
    if "input" not in body:
        return Plan(skip=f"a {kind} message without the execution's input")
    arn = letter.execution_arn
    machine, problem = state_machine_of(arn) if arn else (upload_state_machine_arn, None)
    if machine is None:
        return Plan(skip=str(problem))
    return Plan(state_machine_arn=machine, input=json.dumps(body["input"]))


# -- the run ---------------------------------------------------------------------------


@dataclass
class Result:
    """What happened to one message."""

    message_id: str
    key: str | None
    kind: str
    reason: str
    action: str
    """"restarted", "would restart", "skipped" or "failed" (the restart was refused)."""
    note: str = ""
    state_machine_arn: str | None = None
    execution_arn: str | None = None
    """The new execution (or, with --dry-run, None)."""
    previous_execution_arn: str | None = None
    deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "key": self.key,
            "kind": self.kind,
            "reason": self.reason,
            "action": self.action,
            "method": METHOD if self.action in ("restarted", "would restart") else None,
            "note": self.note,
            "stateMachineArn": self.state_machine_arn,
            "executionArn": self.execution_arn,
            "previousExecutionArn": self.previous_execution_arn,
            "deleted": self.deleted,
        }


@dataclass
class Report:
    dead_letter_queue_url: str
    dry_run: bool
    results: list[Result] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for r in self.results if r.action == action)

    @property
    def exit_code(self) -> int:
        return 1 if self.count("failed") else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "deadLetterQueueUrl": self.dead_letter_queue_url,
            "dryRun": self.dry_run,
            "messages": [r.to_dict() for r in self.results],
            "summary": {
                "restarted": self.count("restarted"),
                "wouldRestart": self.count("would restart"),
                "skipped": self.count("skipped"),
                "failed": self.count("failed"),
            },
        }


def _receive(
    sqs: Any, queue_url: str, limit: int | None, wait_seconds: int
) -> Iterator[dict[str, Any]]:
    """Messages from the queue, each hidden for VISIBILITY_SECONDS, until it is empty (or
    `limit` were received)."""
    received = 0
    while limit is None or received < limit:
        wanted = 10 if limit is None else min(10, limit - received)
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=wanted,
            VisibilityTimeout=VISIBILITY_SECONDS,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return
        for message in messages[:wanted]:
            received += 1
            yield message


def _error_code(err: BaseException) -> str:
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or type(err).__name__)
    return type(err).__name__


def redrive(
    clients: HasClients,
    *,
    dead_letter_queue_url: str,
    state_machine_arn: str,
    dry_run: bool = False,
    max_messages: int | None = None,
    include_rejected: bool = False,
    wait_seconds: int = 0,
    on_result: Callable[[Result], None] | None = None,
) -> Report:
    """Restart what the dead-letter queue holds (see the module's docstring).

    `state_machine_arn` is the upload state machine, for raw S3 events; the state
    machines' own messages restart on the machine that ran them. `wait_seconds` is the
    ReceiveMessage long poll: 0 locally, 1 or more against SQS, whose short polls may
    come back empty while messages wait.
    """
    sqs = clients.client("sqs")
    sfn = clients.client("stepfunctions")
    queue_arn = str(
        sqs.get_queue_attributes(QueueUrl=dead_letter_queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
    )
    report = Report(dead_letter_queue_url, dry_run)
    to_release: list[str] = []
    try:
        for message in _receive(sqs, dead_letter_queue_url, max_messages, wait_seconds):
            letter = DeadLetter(parse_json(message["Body"]))
            result = Result(
                message_id=str(message["MessageId"]),
                key=letter.key,
                kind=letter.kind,
                reason=letter.reason,
                action="skipped",
                previous_execution_arn=letter.execution_arn,
            )
            attributes = message.get("Attributes") or {}
            step = plan(
                letter,
                message,
                upload_state_machine_arn=state_machine_arn,
                # Where the ingest queue moved it from, when SQS says; the input's
                # eventSourceARN is not read by the pipeline.
                source_queue_arn=str(attributes.get("DeadLetterQueueSourceArn") or queue_arn),
                include_rejected=include_rejected,
            )
            result.note = step.skip or step.note
            result.state_machine_arn = step.state_machine_arn
            if step.skip is not None or step.state_machine_arn is None or step.input is None:
                to_release.append(message["ReceiptHandle"])
            elif dry_run:
                result.action = "would restart"
                to_release.append(message["ReceiptHandle"])
            else:
                _restart(sqs, sfn, dead_letter_queue_url, message, step, result)
                if not result.deleted:
                    to_release.append(message["ReceiptHandle"])
            report.results.append(result)
            if on_result is not None:
                on_result(result)
    finally:
        for receipt in to_release:  # visible again now, not after VISIBILITY_SECONDS
            # If this fails, the message comes back after its timeout anyway.
            with contextlib.suppress(Exception):
                sqs.change_message_visibility(
                    QueueUrl=dead_letter_queue_url, ReceiptHandle=receipt, VisibilityTimeout=0
                )
    return report


def _restart(
    sqs: Any,
    sfn: Any,
    queue_url: str,
    message: Mapping[str, Any],
    step: Plan,
    result: Result,
) -> None:
    """StartExecution, then (only then) DeleteMessage; fills in `result`."""
    name = f"redrive-{message['MessageId']}"[:80]
    try:
        started = sfn.start_execution(
            stateMachineArn=step.state_machine_arn, name=name, input=step.input
        )
        result.execution_arn = str(started["executionArn"])
    except Exception as err:
        if _error_code(err) != "ExecutionAlreadyExists":
            result.action = "failed"
            result.note = f"StartExecution refused: {_error_code(err)}: {err}"
            return
        # Only this message's restart has this name: an earlier run started it and
        # stopped before deleting the message.
        prefix, _, machine = str(step.state_machine_arn).rpartition(":stateMachine:")
        result.execution_arn = f"{prefix}:execution:{machine}:{name}"
        result.note = "restarted by an earlier run (execution name already taken)"
    result.action = "restarted"
    try:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        result.deleted = True
    except Exception as err:
        problem = f"the message could not be deleted ({_error_code(err)})"
        result.note = "; ".join(p for p in (result.note, problem) if p)


# -- the command line ------------------------------------------------------------------


def add_redrive(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "redrive",
        help="restart what the dead-letter queue holds, once the cause is fixed",
        description=(
            "Read the dead-letter queue and restart each failed upload: a new execution "
            "of the state machine that failed, with its original input (a raw S3 event "
            "from the ingest queue is given to the upload state machine the way the pipe "
            "gives it). Rejected uploads are skipped: the same file would be rejected "
            "again. A message is deleted only once the restart is accepted; prints what "
            "it did with each message. Not RedriveExecution: it would resume at the "
            "Fail state each dead-lettered execution ends in, and redo nothing. "
            "The stack: a deployed one (names from `pulumi stack output`, or the flags "
            "below, or IMAGEPIPE_STATE_MACHINE_ARN and IMAGEPIPE_DEAD_LETTER_QUEUE_URL), "
            "or with --local the one a running `imagepipe local serve` serves. "
            "Exit status: 0 done, 1 a restart was refused, 2 usage, 3 no stack, "
            "4 AWS error, 5 a bug."
        ),
    )
    where = stack_arguments(parser)
    where.add_argument(
        "--dead-letter-queue-url",
        "--dlq-url",
        dest="dead_letter_queue_url",
        metavar="URL",
        help="the dead-letter queue (deployed stack)",
    )
    where.add_argument(
        "--state-machine-arn", metavar="ARN", help="the upload state machine (deployed stack)"
    )
    parser.add_argument("--dry-run", action="store_true", help="say what would be done, do nothing")
    parser.add_argument(
        "--max", type=_positive, metavar="N", help="handle at most N messages (default: all)"
    )
    parser.add_argument(
        "--include-rejected", action="store_true", help="restart rejected uploads too"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(func=run_command)


def target_for(args: argparse.Namespace) -> Target:
    """The stack the arguments name (imagepipe.target resolves the names)."""
    from imagepipe.target import USAGE, OpsError, Target
    from infra.settings import Settings

    queue_url = args.dead_letter_queue_url
    machine = args.state_machine_arn
    if args.local:
        if queue_url or machine:
            raise OpsError(USAGE, "--dlq-url, --state-machine-arn: not with --local")
        return Target.local_stack(args.stack, args.endpoint)
    if args.endpoint:
        raise OpsError(USAGE, "--endpoint goes with --local")
    queue_url = queue_url or os.environ.get("IMAGEPIPE_DEAD_LETTER_QUEUE_URL", "").strip()
    machine = machine or os.environ.get("IMAGEPIPE_STATE_MACHINE_ARN", "").strip()
    if queue_url and machine:  # all this command needs: no Pulumi
        outputs = {"deadLetterQueueUrl": queue_url, "stateMachineArn": machine}
        region = machine.split(":")[3] if machine.count(":") >= 3 else ""
        return Target(args.stack, local=False, region=region, outputs=outputs, settings=Settings())
    target = Target.deployed(args.stack, {"stateMachineArn": machine or None})
    if queue_url:
        target.outputs["deadLetterQueueUrl"] = queue_url
    return target


def run_command(args: argparse.Namespace) -> int:
    """`imagepipe redrive`: every failure is one line and an exit code, never a traceback."""
    from imagepipe.target import INTERNAL, OpsError, translate

    target = None
    try:
        target = target_for(args)
        return run(args, target)
    except OpsError as err:
        return _fail(args, err.code, err.message)
    except Exception as err:
        ops = translate(err, target)
        if ops is not None:
            return _fail(args, ops.code, ops.message)
        if os.environ.get("IMAGEPIPE_DEBUG"):
            raise
        return _fail(
            args,
            INTERNAL,
            f"unexpected {type(err).__name__}: {err} (a bug: rerun with IMAGEPIPE_DEBUG=1)",
        )


def _fail(args: argparse.Namespace, code: int, message: str) -> int:
    line = " ".join(message.split())
    if getattr(args, "json", False):
        print(json.dumps({"error": {"code": code, "message": line}}), flush=True)
    print(f"imagepipe redrive: {line}", file=sys.stderr, flush=True)
    return code


def run(args: argparse.Namespace, target: Target) -> int:
    from imagepipe import display

    queue_url = target.output("deadLetterQueueUrl")
    con = None if args.json else display.console()
    if con is not None:
        verb = "Would restart" if args.dry_run else "Restarting"
        con.print(f"{verb} from {queue_url} ({target.display_endpoint()})")
    report = redrive(
        target,
        dead_letter_queue_url=queue_url,
        state_machine_arn=target.state_machine_arn,
        dry_run=args.dry_run,
        max_messages=args.max,
        include_rejected=args.include_rejected,
        wait_seconds=0 if target.local else 1,
    )
    if args.json:
        display.print_json(report.to_dict())
    else:
        assert con is not None
        con.print(table(report))
    return report.exit_code


def table(report: Report) -> Any:
    """The report as a rich Table (one row per message) or, if none, a line of text."""
    from rich.table import Table

    if not report.results:
        return "The dead-letter queue is empty: nothing to restart."
    summary = report.to_dict()["summary"]
    if report.dry_run:
        done = f"{summary['wouldRestart']} would restart"
    else:
        done = f"{summary['restarted']} restarted"
    count = len(report.results)
    title = (
        f"{count} message{'' if count == 1 else 's'}: {done}, {summary['skipped']} skipped, "
        f"{summary['failed']} refused"
    )
    grid = Table(title=title, title_justify="left")
    grid.add_column("message", no_wrap=True)
    grid.add_column("upload", overflow="fold")
    grid.add_column("was", no_wrap=True)
    grid.add_column("action", no_wrap=True)
    grid.add_column("execution / why", overflow="fold")
    colours = {"restarted": "green", "would restart": "cyan", "skipped": "yellow", "failed": "red"}
    for r in report.results:
        new = r.execution_arn.rsplit(":", 1)[-1] if r.execution_arn else ""
        detail = " ".join(part for part in (new, r.note) if part) or "-"
        action = r.action + (" (message kept)" if not r.deleted and r.action == "failed" else "")
        grid.add_row(
            r.message_id[:8],
            r.key or "-",
            f"{r.kind}: {r.reason}",
            f"[{colours.get(r.action, 'white')}]{action}[/]",
            detail,
        )
    return grid
