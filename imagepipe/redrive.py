"""`imagepipe redrive`'s work (the command is imagepipe.commands.redrive): restart what
the dead-letter queue holds, oldest first, up to --max.

- a "failed" message from a state machine restarts that state machine with the
  original input; a raw S3 event the ingest queue moved there is given to the upload
  state machine in the pipe's input shape (imagepipe.messages);
- a "rejected" message is skipped: the same bytes would be rejected again
  (--include-rejected restarts them anyway).

A message is deleted only once StartExecution accepted its restart; anything else is
made visible again at the end. A restart is named `redrive-<message id>`, so a second
run cannot start it twice. Not RedriveExecution: every dead-lettered execution caught its
error and ended in a Fail state, where RedriveExecution would resume, redoing nothing
(and moto does not implement it). Every output key is deterministic, so redoing the work
overwrites what the first attempt wrote with the same bytes.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

from imagepipe.executions import execution_arn
from imagepipe.messages import DeadLetter, camel, parse_json, pipe_input, s3_records, sqs_record

if TYPE_CHECKING:
    from imagepipe.target import Target

METHOD: Final = "StartExecution"
VISIBILITY_SECONDS: Final = 300  # how long received messages stay hidden meanwhile


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
        if letter.key is None:
            return Plan(skip="an S3 event without an object key (nothing to restart)")
        return Plan(
            state_machine_arn=upload_state_machine_arn,
            input=pipe_input([sqs_record(message, source_queue_arn)]),
            note="raw S3 event from the ingest queue, given to the state machine as the "
            "pipe gives it",
        )
    if "input" not in letter.body:  # a dict: a body that is not one is "redriven"
        return Plan(skip=f"a {kind} message without the execution's input")
    arn = letter.execution_arn
    machine, problem = state_machine_of(arn) if arn else (upload_state_machine_arn, None)
    if machine is None:
        return Plan(skip=str(problem))
    return Plan(state_machine_arn=machine, input=json.dumps(letter.body["input"]))


ACTIONS: Final = ("restarted", "would restart", "skipped", "failed")  # "failed": refused


@dataclass
class Result:
    """What happened to one message."""

    message_id: str
    key: str | None
    kind: str
    reason: str
    action: str = "skipped"  # one of ACTIONS
    method: str | None = None  # METHOD once restarted (or, in a dry run, it would be)
    note: str = ""
    state_machine_arn: str | None = None
    execution_arn: str | None = None  # the new execution (None in a dry run)
    previous_execution_arn: str | None = None
    deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {camel(name): value for name, value in asdict(self).items()}


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
            "summary": {camel(action): self.count(action) for action in ACTIONS},
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
        ).get("Messages", [])[:wanted]
        if not messages:
            return
        received += len(messages)
        yield from messages


def _error_code(err: BaseException) -> str:
    response = getattr(err, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return str(code or type(err).__name__)


def redrive(
    clients: Target,
    *,
    dead_letter_queue_url: str,
    state_machine_arn: str,
    dry_run: bool = False,
    max_messages: int | None = None,
    include_rejected: bool = False,
    wait_seconds: int = 0,
) -> Report:
    """Restart what the dead-letter queue holds. `state_machine_arn` is the upload state
    machine, for raw S3 events. `wait_seconds` is the ReceiveMessage long poll: 0 locally,
    1 or more against SQS, whose short polls may come back empty while messages wait."""
    sqs, queue_url = clients.client("sqs"), dead_letter_queue_url
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    report = Report(queue_url, dry_run)
    to_release: list[str] = []
    try:
        for message in _receive(sqs, queue_url, max_messages, wait_seconds):
            letter = DeadLetter(parse_json(message["Body"]))
            # Where the ingest queue moved it from, when SQS says; the input's
            # eventSourceARN is not read by the pipeline.
            moved_from = (message.get("Attributes") or {}).get("DeadLetterQueueSourceArn")
            step = plan(
                letter,
                message,
                upload_state_machine_arn=state_machine_arn,
                source_queue_arn=str(moved_from or attributes["Attributes"]["QueueArn"]),
                include_rejected=include_rejected,
            )
            result = Result(
                str(message["MessageId"]),
                letter.key,
                letter.kind,
                letter.reason,
                note=step.skip or step.note,
                state_machine_arn=step.state_machine_arn,
                previous_execution_arn=letter.execution_arn,
            )
            if step.skip is None and dry_run:
                result.action, result.method = "would restart", METHOD
            elif step.skip is None:
                _restart(sqs, clients.client("stepfunctions"), queue_url, message, step, result)
            if not result.deleted:
                to_release.append(message["ReceiptHandle"])
            report.results.append(result)
    finally:
        for receipt in to_release:  # visible again now, not after VISIBILITY_SECONDS
            # If this fails, the message comes back after its timeout anyway.
            with contextlib.suppress(Exception):
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=receipt, VisibilityTimeout=0
                )
    return report


def _restart(
    sqs: Any, sfn: Any, queue_url: str, message: Mapping[str, Any], step: Plan, result: Result
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
        result.execution_arn = execution_arn(str(step.state_machine_arn), name)
        result.note = "restarted by an earlier run (execution name already taken)"
    result.action, result.method = "restarted", METHOD
    try:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        result.deleted = True
    except Exception as err:
        problem = f"the message could not be deleted ({_error_code(err)})"
        result.note = "; ".join(p for p in (result.note, problem) if p)
