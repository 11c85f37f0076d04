"""Driving and inspecting a deployed local stack (imagepipe.local.stack.LocalStack) in
tests: upload, run the pipe and wait for the executions, read what came out. What a
person would do with the AWS console and CLI, as functions of the stack."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from imagepipe.executions import ExecutionInfo, describe_many
from imagepipe.executions import describe as describe_execution
from imagepipe.executions import history as execution_history
from imagepipe.local.pipe import PollResult
from imagepipe.local.stack import LocalStack
from imagepipe.messages import DeadLetter, parse_json


class PumpTimeoutError(TimeoutError):
    """Executions were still running when `wait` gave up."""


@dataclass(frozen=True)
class Notification:
    """One message published to the notification topic, as an SQS subscriber gets it."""

    subject: str | None
    message: Any  # the parsed JSON summary
    attributes: dict[str, str]


# What `dlq_messages` and `notifications` took out of their queues, per stack.
_dead_letters: WeakKeyDictionary[LocalStack, list[DeadLetter]] = WeakKeyDictionary()
_notifications: WeakKeyDictionary[LocalStack, list[Notification]] = WeakKeyDictionary()


def upload(
    stack: LocalStack, data: bytes | Path | str, key: str, *, bucket: str | None = None
) -> str:
    """PutObject `data` (bytes, or a file path) at `key` in the source bucket (or `bucket`)."""
    body = data if isinstance(data, bytes) else Path(data).read_bytes()
    stack.clients.client("s3").put_object(Bucket=bucket or stack.source_bucket, Key=key, Body=body)
    return key


def function_name(stack: LocalStack, kind: str) -> str:
    """The deployed name of the `kind` ("inspect", "resize") function."""
    handler = f"imagefn.{kind}_handler.handler"
    for page in stack.clients.client("lambda").get_paginator("list_functions").paginate():
        for function in page["Functions"]:
            if function.get("Handler") == handler:
                return str(function["FunctionName"])
    raise KeyError(f"no function with handler {handler}")


def state_machine_arn_of(stack: LocalStack, kind: str) -> str:
    """The ARN of the `kind` ("backfill", "removal") state machine, from the stack's
    outputs (KeyError when the stack has none, e.g. removal without deleteDerivatives)."""
    arn = stack.outputs.get(f"{kind}StateMachineArn")
    if not arn:
        raise KeyError(f"no {kind} state machine")
    return str(arn)


def poll(stack: LocalStack) -> PollResult:
    """Run the pipes until their queues are empty (without waiting for executions)."""
    total = PollResult()
    for poller in stack.pollers:
        for _ in range(10_000):  # until a receive comes back empty
            result = poller.poll_once(wait_seconds=0)
            total.started += result.started
            total.filtered += result.filtered
            total.failed += result.failed
            if not (result.started or result.filtered or result.failed):
                break
    return total


def running(stack: LocalStack) -> list[str]:
    """Running executions of every state machine (pipes may target several).

    moto's nextToken names the last execution of the page before, and is refused
    (InvalidToken) once that execution has left the RUNNING list: pages of AWS's maximum
    make that rare, and a refused listing is made again."""
    sfn = stack.clients.client("stepfunctions")
    arns: list[str] = []
    for machines in sfn.get_paginator("list_state_machines").paginate():
        for machine in machines["stateMachines"]:
            for attempt in itertools.count(1):
                try:
                    arns += _running_executions(sfn, machine["stateMachineArn"])
                    break
                except sfn.exceptions.InvalidToken:
                    if attempt == 5:
                        raise
    return arns


def _running_executions(sfn: Any, state_machine_arn: str) -> list[str]:
    pages = sfn.get_paginator("list_executions").paginate(
        stateMachineArn=state_machine_arn,
        statusFilter="RUNNING",
        PaginationConfig={"PageSize": 1000},
    )
    return [e["executionArn"] for page in pages for e in page["executions"]]


def wait(stack: LocalStack, timeout: float = 120.0) -> None:
    """Wait until no execution is running (moto runs each in its own thread)."""
    deadline = time.monotonic() + timeout
    while running(stack):
        if time.monotonic() > deadline:
            raise PumpTimeoutError(f"executions still running after {timeout:.0f}s")
        time.sleep(0.05)


def pump(stack: LocalStack, timeout: float = 120.0) -> list[str]:
    """Poll the pipes and wait for the executions, until nothing new happens.

    Returns the ARNs of the executions started.
    """
    deadline = time.monotonic() + timeout
    started: list[str] = []
    while True:
        result = poll(stack)
        started += result.started
        wait(stack, max(0.0, deadline - time.monotonic()))
        if not (result.started or result.filtered):
            return started


def describe(stack: LocalStack, arn: str) -> ExecutionInfo:
    return describe_execution(stack.clients, arn)


def history(stack: LocalStack, arn: str) -> list[dict[str, Any]]:
    """GetExecutionHistory's events, oldest first."""
    return execution_history(stack.clients, arn)


def executions(stack: LocalStack) -> list[ExecutionInfo]:
    """Every execution of the upload state machine (stateMachineArn), oldest first."""
    pages = (
        stack.clients.client("stepfunctions")
        .get_paginator("list_executions")
        .paginate(stateMachineArn=stack.state_machine_arn)
    )
    arns = [e["executionArn"] for page in pages for e in page["executions"]]
    return sorted(describe_many(stack.clients, arns), key=lambda e: e.started)


def _drain(stack: LocalStack, queue_url: str) -> list[str]:
    sqs = stack.clients.client("sqs")
    bodies: list[str] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def dlq_messages(stack: LocalStack) -> list[DeadLetter]:
    """Every dead-letter message so far. They are moved out of the queue (received and
    deleted), so each call returns all seen, not only new ones."""
    seen = _dead_letters.setdefault(stack, [])
    seen += [DeadLetter(parse_json(b)) for b in _drain(stack, stack.dead_letter_queue_url)]
    return list(seen)


def notifications(stack: LocalStack) -> list[Notification]:
    """Every notification published so far (captured by the local subscriber queue)."""
    seen = _notifications.setdefault(stack, [])
    for body in _drain(stack, stack.notifications_queue_url):
        envelope = parse_json(body)
        seen.append(
            Notification(
                subject=envelope.get("Subject"),
                message=parse_json(envelope.get("Message")),
                attributes={
                    k: v.get("Value", "")
                    for k, v in (envelope.get("MessageAttributes") or {}).items()
                },
            )
        )
    return list(seen)


def objects(stack: LocalStack, bucket: str, prefix: str = "") -> dict[str, dict[str, Any]]:
    """Key -> ListObjectsV2 entry for every object under `prefix`."""
    paginator = stack.clients.client("s3").get_paginator("list_objects_v2")
    return {
        item["Key"]: item
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
    }


def read(stack: LocalStack, bucket: str, key: str) -> bytes:
    body: bytes = stack.clients.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return body
