"""SNS: topics, topic policies and subscriptions."""

from __future__ import annotations

from typing import Final

from imagepipe.local.providers.base import (
    Context,
    Handler,
    Inputs,
    Outputs,
    as_json,
    attributes,
    flag,
    physical_name,
)

# Pulumi input -> the topic attribute CreateTopic takes it as.
_TOPIC_ATTRIBUTES: Final = {
    "kmsMasterKeyId": "KmsMasterKeyId",
    "displayName": "DisplayName",
    "policy": "Policy",
    "deliveryPolicy": "DeliveryPolicy",
    "fifoTopic": "FifoTopic",
    "contentBasedDeduplication": "ContentBasedDeduplication",
}


def _topic(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    name = physical_name(logical, inputs)
    if inputs.get("fifoTopic") and not name.endswith(".fifo"):
        name += ".fifo"
    arn = ctx.clients.client("sns").create_topic(
        Name=name, Attributes=attributes(inputs, _TOPIC_ATTRIBUTES)
    )["TopicArn"]
    return arn, {"arn": arn, "name": name, "owner": arn.split(":")[4]}


def _topic_policy(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    arn = inputs["arn"]
    ctx.clients.client("sns").set_topic_attributes(
        TopicArn=arn, AttributeName="Policy", AttributeValue=as_json(inputs["policy"])
    )
    return arn, {"owner": arn.split(":")[4]}


def _subscription(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    subscription_attributes = {}
    if inputs.get("rawMessageDelivery") is not None:
        subscription_attributes["RawMessageDelivery"] = flag(inputs["rawMessageDelivery"])
    if inputs.get("filterPolicy"):
        subscription_attributes["FilterPolicy"] = as_json(inputs["filterPolicy"])
    arn = ctx.clients.client("sns").subscribe(
        TopicArn=inputs["topic"],
        Protocol=inputs["protocol"],
        Endpoint=inputs["endpoint"],
        Attributes=subscription_attributes,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return arn, {"arn": arn}


RESOURCES: Final[dict[str, Handler]] = {
    "aws:sns/topic:Topic": _topic,
    "aws:sns/topicPolicy:TopicPolicy": _topic_policy,
    "aws:sns/topicSubscription:TopicSubscription": _subscription,
}
