"""Part 4 (counting): state transitions and AWS requests per image, on the local stack.

The dev stack is deployed on moto (imagepipe.local), a few generated photos are uploaded
and pumped through S3 -> SQS -> Pipe -> Step Functions -> Lambdas -> SNS, and then:

State transitions are counted from GetExecutionHistory: every ``*StateEntered`` event
(TaskStateEntered, MapStateEntered, PassStateEntered, FailStateEntered, ...). That is
what AWS bills a Standard workflow for: one transition per state entered, Map iterations
included; the execution's start and end are not transitions. A Task retry is billed as
one more transition but enters no new state, so counts here are for runs without retries.

AWS requests are counted by wrapping botocore's BaseClient._make_api_call while the images
go through: the handlers' S3 calls, the local pipe's SQS calls and moto's Step Functions
interpreter's service integrations (Lambda Invoke, S3 CopyObject, SNS Publish) all go
through it. The benchmark's own calls (uploads, listing executions) are taken out.
S3's own SendMessage of the event notification happens inside moto and is added as one
SQS request per image by the cost model.

Log volume: what the handlers wrote to their CloudWatch log groups, and the size of the
execution history as JSON, which approximates what an Express workflow logging at level
ALL with execution data (as infra/workflow.py configures Express) sends to CloudWatch.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .inputs import photo

TOOLING_CALLS = frozenset(
    {
        ("stepfunctions", "ListExecutions"),
        ("stepfunctions", "DescribeExecution"),
        ("stepfunctions", "GetExecutionHistory"),
        ("stepfunctions", "ListStateMachines"),
        ("sqs", "GetQueueAttributes"),
        ("sqs", "GetQueueUrl"),
        ("pipes", "ListPipes"),
        ("pipes", "DescribePipe"),
    }
)


@dataclass
class Orchestration:
    stack: str
    renditions: int
    images: int
    transitions: list[int] = field(default_factory=list)  # per execution
    statuses: list[str] = field(default_factory=list)
    entered: Counter[str] = field(default_factory=Counter)  # *StateEntered, all executions
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)  # whole run
    lambda_log_bytes: int = 0  # whole run, handler log events
    lambda_log_events: int = 0
    history_bytes: int = 0  # whole run, histories as JSON
    error: str | None = None

    def per_image(self, service: str, operation: str) -> float:
        return self.calls[service, operation] / self.images if self.images else 0.0

    @property
    def transitions_per_image(self) -> float:
        return sum(self.transitions) / len(self.transitions) if self.transitions else 0.0


@contextmanager
def counting_calls(into: Counter[tuple[str, str]]) -> Iterator[None]:
    import botocore.client

    original = botocore.client.BaseClient._make_api_call

    def counted(self: Any, operation: str, params: Any) -> Any:
        into[self.meta.service_model.service_name, operation] += 1
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = counted
    try:
        yield
    finally:
        botocore.client.BaseClient._make_api_call = original


def _jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    photo((1600, 1200), seed).save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


def _log_volume(stack: Any) -> tuple[int, int]:
    logs = stack.clients.client("logs")
    size = events = 0
    for page in logs.get_paginator("describe_log_groups").paginate():
        for group in page["logGroups"]:
            if "/aws/lambda/" not in group["logGroupName"]:
                continue
            for events_page in logs.get_paginator("filter_log_events").paginate(
                logGroupName=group["logGroupName"]
            ):
                for event in events_page["events"]:
                    size += len(event["message"].encode()) + 26  # + CloudWatch's per-event overhead
                    events += 1
    return size, events


def run(
    stack_name: str = "dev", images: int = 3, progress: Callable[[str], None] = lambda _: None
) -> Orchestration:
    from imagepipe.local.stack import deploy_local
    from tests.support import drive

    progress(f"orchestration: deploying the {stack_name} stack locally")
    with deploy_local(stack_name) as stack:
        result = Orchestration(stack_name, len(stack.settings.renditions), images)
        drive.pump(stack)  # S3's test event from the notification setup: not an image
        uploads = [_jpeg(100 + i) for i in range(images)]
        progress(f"orchestration: {images} images through the pipeline")
        with counting_calls(result.calls):
            for i, data in enumerate(uploads):
                drive.upload(stack, data, stack.upload_key(f"bench/photo-{i}.jpg"))
            arns = drive.pump(stack)
        result.calls["s3", "PutObject"] -= images  # the uploads themselves
        for key in [k for k in result.calls if k in TOOLING_CALLS]:
            del result.calls[key]
        for arn in arns:
            history = drive.history(stack, arn)
            entered = [e["type"] for e in history if e["type"].endswith("StateEntered")]
            result.transitions.append(len(entered))
            result.entered.update(entered)
            result.statuses.append(drive.describe(stack, arn).status)
            result.history_bytes += sum(len(json.dumps(e, default=str)) for e in history)
        result.lambda_log_bytes, result.lambda_log_events = _log_volume(stack)
    return result
