"""SNS: topics, topic policies and subscriptions."""

from __future__ import annotations

from typing import Final

from imagepipe.local.providers import base
from imagepipe.local.providers.base import Context, Handler, Inputs, Outputs

# Pulumi input -> the topic attribute CreateTopic takes it as.
_TOPIC_ATTRIBUTES: Final = {
    "kmsMasterKeyId": "KmsMasterKeyId",
    "displayName": "DisplayName",
    "policy": "Policy",
    "deliveryPolicy": "DeliveryPolicy",
    "fifoTopic": "FifoTopic",
    "contentBasedDeduplication": "ContentBasedDeduplication",
}

# ... and the subscription attribute Subscribe takes it as.
_SUBSCRIPTION_ATTRIBUTES: Final = {
    "rawMessageDelivery": "RawMessageDelivery",
    "filterPolicy": "FilterPolicy",  # JSON text, as the provider takes it
}


def _topic(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    name = base.physical_name(logical, inputs)
    if inputs.get("fifoTopic") and not name.endswith(".fifo"):
        name += ".fifo"
    arn = ctx.clients.client("sns").create_topic(
        Name=name, Attributes=base.attributes(inputs, _TOPIC_ATTRIBUTES)
    )["TopicArn"]
    return arn, {"arn": arn, "name": name, "owner": arn.split(":")[4]}


def _topic_policy(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    arn = inputs["arn"]
    ctx.clients.client("sns").set_topic_attributes(
        TopicArn=arn, AttributeName="Policy", AttributeValue=inputs["policy"]
    )
    return arn, {"owner": arn.split(":")[4]}


def _subscription(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    arn = ctx.clients.client("sns").subscribe(
        TopicArn=inputs["topic"],
        Protocol=inputs["protocol"],
        Endpoint=inputs["endpoint"],
        Attributes=base.attributes(inputs, _SUBSCRIPTION_ATTRIBUTES),
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return arn, {"arn": arn}


RESOURCES: Final[dict[str, Handler]] = {
    "aws:sns/topic:Topic": _topic,
    "aws:sns/topicPolicy:TopicPolicy": _topic_policy,
    "aws:sns/topicSubscription:TopicSubscription": _subscription,
}
