"""SQS: queues, their policies and redrive-allow policies."""

from __future__ import annotations

from typing import Final

from imagepipe.local.providers.base import (
    Context,
    Handler,
    Inputs,
    Outputs,
    as_json,
    attributes,
    physical_name,
)

# Pulumi input -> the queue attribute CreateQueue takes it as.
_QUEUE_ATTRIBUTES: Final = {
    "delaySeconds": "DelaySeconds",
    "maxMessageSize": "MaximumMessageSize",
    "messageRetentionSeconds": "MessageRetentionPeriod",
    "receiveWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "visibilityTimeoutSeconds": "VisibilityTimeout",
    "redrivePolicy": "RedrivePolicy",
    "redriveAllowPolicy": "RedriveAllowPolicy",
    "policy": "Policy",
    "sqsManagedSseEnabled": "SqsManagedSseEnabled",
    "kmsMasterKeyId": "KmsMasterKeyId",
    "kmsDataKeyReusePeriodSeconds": "KmsDataKeyReusePeriodSeconds",
    "fifoQueue": "FifoQueue",
    "contentBasedDeduplication": "ContentBasedDeduplication",
}


def _queue(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    name = physical_name(logical, inputs)
    if inputs.get("fifoQueue") and not name.endswith(".fifo"):
        name += ".fifo"
    sqs = ctx.clients.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attributes(inputs, _QUEUE_ATTRIBUTES))[
        "QueueUrl"
    ]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, {"url": url, "arn": arn, "name": name}


def _queue_policy(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    url = inputs["queueUrl"]
    ctx.clients.client("sqs").set_queue_attributes(
        QueueUrl=url, Attributes={"Policy": as_json(inputs["policy"])}
    )
    return url, {}


def _redrive_allow(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    url = inputs["queueUrl"]
    ctx.clients.client("sqs").set_queue_attributes(
        QueueUrl=url,
        Attributes={"RedriveAllowPolicy": as_json(inputs["redriveAllowPolicy"])},
    )
    return url, {}


RESOURCES: Final[dict[str, Handler]] = {
    "aws:sqs/queue:Queue": _queue,
    "aws:sqs/queuePolicy:QueuePolicy": _queue_policy,
    "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy": _redrive_allow,
}
