"""The EventBridge Pipe, run locally: SQS source -> filter -> StartExecution.

moto stores pipes but never runs one. `PipePoller` does what Pipes does for the
configuration the Pulumi program created, read back with DescribePipe: receive up to
the batch size as the pipe's role, turn each message into the record Pipes sends
(imagepipe.messages.sqs_record), delete what no filter pattern matches (moto's
EventBridge matcher, the body matched as JSON when it is JSON), start one execution per
batch with the records as input, and delete the messages only once that succeeded
(otherwise they come back after the visibility timeout, and are dead-lettered after
maxReceiveCount).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from imagepipe.local import access
from imagepipe.local.clients import signed_as
from imagepipe.messages import pipe_input, sqs_record
from imagepipe.target import Target

LOG: Final = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipeConfig:
    """What the poller needs from a pipe's configuration."""

    name: str
    arn: str
    role_arn: str
    source_arn: str
    target_arn: str
    batch_size: int
    filter_patterns: tuple[str, ...]

    @classmethod
    def from_description(cls, pipe: Mapping[str, Any]) -> PipeConfig:
        """From a DescribePipe response."""
        source = pipe.get("SourceParameters") or {}
        filters = (source.get("FilterCriteria") or {}).get("Filters") or []
        return cls(
            name=pipe["Name"],
            arn=pipe["Arn"],
            role_arn=pipe["RoleArn"],
            source_arn=pipe["Source"],
            target_arn=pipe["Target"],
            batch_size=int((source.get("SqsQueueParameters") or {}).get("BatchSize") or 10),
            filter_patterns=tuple(f["Pattern"] for f in filters if f.get("Pattern")),
        )


def pipe_configs(clients: Target) -> list[PipeConfig]:
    """Every pipe in the emulator with an SQS source and a Step Functions target."""
    pipes = clients.client("pipes")
    configs = []
    for summary in pipes.list_pipes().get("Pipes", []):
        config = PipeConfig.from_description(pipes.describe_pipe(Name=summary["Name"]))
        if config.source_arn.startswith("arn:aws:sqs:") and ":states:" in config.target_arn:
            configs.append(config)
        else:
            LOG.warning("pipe %s: only SQS -> Step Functions pipes run locally", config.name)
    return configs


def _flatten(node: Any, prefix: str, out: dict[str, list[Any]]) -> None:
    """EventBridge's view of an event: every leaf path with the list of values found under
    it, arrays (of objects too) flattened into it. moto's matcher takes a list of values
    as a value any of which matches, so one value is a list of one."""
    if isinstance(node, dict):
        for key, value in node.items():
            _flatten(value, f"{prefix}.{key}" if prefix else key, out)
    elif isinstance(node, list):
        out.setdefault(prefix, [])  # an empty array still "exists"
        for item in node:
            _flatten(item, prefix, out)
    else:
        out.setdefault(prefix, []).append(node)


def matches(record: Mapping[str, Any], patterns: tuple[str, ...]) -> bool:
    """Whether a record passes the pipe's filters (any pattern; no patterns pass all).
    moto's matcher does not look inside arrays of objects (`Records[*].eventName`), as
    EventBridge does: records are given to it flattened, as EventBridge flattens them."""
    if not patterns:
        return True
    from moto.events.models import EventPattern

    event = dict(record)
    with contextlib.suppress(TypeError, ValueError):  # a non-JSON body is matched as text
        event["body"] = json.loads(record["body"])
    flat: Any = {}
    _flatten(event, "", flat)
    return any(EventPattern.load(pattern).matches_event(flat) for pattern in patterns)


@dataclass
class PollResult:
    started: list[str] = field(default_factory=list)  # execution ARNs
    filtered: int = 0  # messages deleted because no filter matched
    failed: int = 0  # messages left in the queue: StartExecution failed


class PipePoller:
    """Runs one pipe: `poll_once`, or `start` a thread that polls until `stop`."""

    def __init__(self, clients: Target, config: PipeConfig) -> None:
        self.config = config
        account, name = config.source_arn.split(":")[4], config.source_arn.split(":")[5]
        self.queue_url: str = clients.client("sqs").get_queue_url(
            QueueName=name, QueueOwnerAWSAccountId=account
        )["QueueUrl"]
        # Pipes reads the queue and starts executions as the pipe's role; it checks
        # that it can read the queue's attributes when the pipe is created.
        session = access.session_for(
            config.role_arn,
            service="pipes.amazonaws.com",
            source_arn=config.arn,
            region=clients.region,
        )
        self.role_clients = signed_as(clients, session)
        self.role_clients.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"pipe-{config.name}", daemon=True)

    def poll_once(self, wait_seconds: int = 0) -> PollResult:
        """One ReceiveMessage and what Pipes does with the batch; returns what happened."""
        sqs = self.role_clients.client("sqs")
        delete = functools.partial(sqs.delete_message, QueueUrl=self.queue_url)
        received = sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(10, self.config.batch_size),
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        result = PollResult()
        batch: list[dict[str, Any]] = []  # records, each with its message's receiptHandle
        for message in received:
            record = sqs_record(message, self.config.source_arn)
            if matches(record, self.config.filter_patterns):
                batch.append(record)
            else:
                delete(ReceiptHandle=record["receiptHandle"])
                result.filtered += 1
        if batch:
            try:
                started = self.role_clients.client("stepfunctions").start_execution(
                    stateMachineArn=self.config.target_arn,
                    # Pipes names executions itself; moto's interpreter needs a name.
                    name=str(uuid.uuid4()),
                    input=pipe_input(batch),
                )
            except Exception:
                # As Pipes: the batch stays in the queue and is retried after its
                # visibility timeout (then dead-lettered after maxReceiveCount).
                LOG.exception("pipe %s: StartExecution failed", self.config.name)
                result.failed += len(batch)
            else:
                result.started.append(started["executionArn"])
                for record in batch:
                    delete(ReceiptHandle=record["receiptHandle"])
        return result

    def start(self) -> None:
        """Poll in a background thread until `stop` (serve and demo start each once)."""
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(wait_seconds=1)  # long polling
            except Exception:  # keep serving: one bad poll must not stop the pipe
                LOG.exception("pipe %s: poll failed", self.config.name)
                self._stop.wait(1)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():  # started
            self._thread.join(timeout=30)
