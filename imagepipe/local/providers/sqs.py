"""SQS: queues, their policies and redrive-allow policies."""

from __future__ import annotations

from typing import Final

from imagepipe.local.providers import base
from imagepipe.local.providers.base import Context, Handler, Inputs, Outputs

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
    name = base.physical_name(logical, inputs)
    if inputs.get("fifoQueue") and not name.endswith(".fifo"):
        name += ".fifo"
    sqs = ctx.clients.client("sqs")
    created = sqs.create_queue(
        QueueName=name, Attributes=base.attributes(inputs, _QUEUE_ATTRIBUTES)
    )
    url = created["QueueUrl"]
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, {"url": url, "arn": found["Attributes"]["QueueArn"], "name": name}


def _queue_document(key: str, attribute: str) -> Handler:
    """A resource that sets one JSON document (a policy) of a queue, whose URL is its id."""

    def put(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        document = {attribute: inputs[key]}
        ctx.clients.client("sqs").set_queue_attributes(
            QueueUrl=inputs["queueUrl"], Attributes=document
        )
        return inputs["queueUrl"], {}

    return put


RESOURCES: Final[dict[str, Handler]] = {
    "aws:sqs/queue:Queue": _queue,
    "aws:sqs/queuePolicy:QueuePolicy": _queue_document("policy", "Policy"),
    "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy": _queue_document(
        "redriveAllowPolicy", "RedriveAllowPolicy"
    ),
}
