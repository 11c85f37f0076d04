"""SQS and SNS: the ingest queue fed by S3, the dead-letter queue, and the topics.

Queues use SQS-managed encryption (SSE-SQS): S3 can deliver to it, which it cannot to a
queue under the AWS-managed KMS key. Topics use a customer-managed KMS key because
CloudWatch alarms cannot publish to a topic under the AWS-managed SNS key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import iam
from infra.settings import Settings
from infra.storage import Buckets

# Every way an object appears (Put, Post, Copy, multipart) or goes (Delete, delete marker).
OBJECT_CREATED = "s3:ObjectCreated:*"
OBJECT_REMOVED = "s3:ObjectRemoved:*"


@dataclass(frozen=True)
class Messaging:
    ingest_queue: aws.sqs.Queue
    dead_letter_queue: aws.sqs.Queue
    # Only with deleteDerivatives: S3 ObjectRemoved events for the removal workflow.
    removal_queue: aws.sqs.Queue | None
    topic: aws.sns.Topic
    alarm_topic: aws.sns.Topic
    topic_key: aws.kms.Key
    notification: aws.s3.BucketNotification


def visibility_timeout(settings: Settings) -> int:
    """Six times the consumer's timeout, as AWS advises for queues feeding Lambda work.

    The pipe itself only calls StartExecution, but if it cannot (throttled, state machine
    missing) the message must stay hidden long enough not to be started twice at once.
    """
    return min(43_200, 6 * settings.lambda_timeout_seconds)


def ingest_queue_policy(queue_arn: Any, bucket_arn: Any, account_id: Any) -> dict[str, Any]:
    """Only our source bucket, in our account, may send; and only over TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SourceBucketNotifications",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {
                    "ArnEquals": {"aws:SourceArn": bucket_arn},
                    "StringEquals": {"aws:SourceAccount": account_id},
                },
            },
            _deny_insecure(queue_arn),
        ],
    }


def _deny_insecure(queue_arn: Any) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:*",
        "Resource": queue_arn,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def topic_key_policy(account_id: Any) -> dict[str, Any]:
    """Key policy: the account administers the key (IAM decides who uses it), CloudWatch
    alarms may encrypt with it. In a key policy "Resource": "*" means this key only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            iam.account_administers_key(account_id),
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            },
        ],
    }


def alarm_topic_policy(topic_arn: Any, account_id: Any) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CloudWatchAlarms",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ],
    }


def create_messaging(
    name: str, settings: Settings, buckets: Buckets, account_id: Any, parent: pulumi.Resource
) -> Messaging:
    dead_letter_queue = aws.sqs.Queue(
        f"{name}-dlq",
        aws.sqs.QueueArgs(
            sqs_managed_sse_enabled=True,
            message_retention_seconds=14 * 24 * 3600,  # the maximum: time to investigate
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    feed = _QueueFeed(name, settings, buckets, dead_letter_queue, account_id, parent)
    ingest_queue, ingest_policy = feed.queue("ingest")
    queue_policies = [ingest_policy]
    rules = feed.rules("uploads", ingest_queue, OBJECT_CREATED)
    removal_queue = None
    if settings.delete_derivatives:
        removal_queue, removal_policy = feed.queue("removals")
        queue_policies.append(removal_policy)
        rules += feed.rules("removals", removal_queue, OBJECT_REMOVED)
    _dead_letter_queue_policies(name, dead_letter_queue, [ingest_queue, removal_queue], parent)
    notification = aws.s3.BucketNotification(
        f"{name}-uploads",
        aws.s3.BucketNotificationArgs(bucket=buckets.source.id, queues=rules),
        # S3 sends a test event while saving the configuration and refuses it unless
        # the queue policies already let the bucket send.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=queue_policies),
    )
    topic_key, topic, alarm_topic = _topics(name, settings, account_id, parent)
    return Messaging(
        ingest_queue=ingest_queue,
        dead_letter_queue=dead_letter_queue,
        removal_queue=removal_queue,
        topic=topic,
        alarm_topic=alarm_topic,
        topic_key=topic_key,
        notification=notification,
    )


@dataclass(frozen=True)
class _QueueFeed:
    """Queues the source bucket's notifications feed, and the rules that feed them."""

    name: str
    settings: Settings
    buckets: Buckets
    dead_letter_queue: aws.sqs.Queue
    account_id: Any
    parent: pulumi.Resource

    def queue(self, kind: str) -> tuple[aws.sqs.Queue, aws.sqs.QueuePolicy]:
        """A queue S3 may send to, whose repeatedly failed messages go to the dead letters."""
        opts = pulumi.ResourceOptions(parent=self.parent)
        queue = aws.sqs.Queue(
            f"{self.name}-{kind}",
            aws.sqs.QueueArgs(
                sqs_managed_sse_enabled=True,
                visibility_timeout_seconds=visibility_timeout(self.settings),
                message_retention_seconds=4 * 24 * 3600,
                receive_wait_time_seconds=20,
                redrive_policy=pulumi.Output.json_dumps(
                    {
                        "deadLetterTargetArn": self.dead_letter_queue.arn,
                        "maxReceiveCount": self.settings.ingest_max_receive_count,
                    }
                ),
            ),
            opts=opts,
        )
        policy = aws.sqs.QueuePolicy(
            f"{self.name}-{kind}-policy",
            aws.sqs.QueuePolicyArgs(
                queue_url=queue.url,
                policy=pulumi.Output.json_dumps(
                    ingest_queue_policy(queue.arn, self.buckets.source.arn, self.account_id)
                ),
            ),
            opts=opts,
        )
        return queue, policy

    def rules(
        self, rule_id: str, queue: aws.sqs.Queue, event: str
    ) -> list[aws.s3.BucketNotificationQueueArgs]:
        """One notification rule: every key under the upload prefix, whatever its suffix.
        Every upload gets an outcome: Inspect decides from the bytes and allowedSuffixes,
        and a refused upload is recorded and notified as image.rejected rather than
        filtered out here, where it would leave no trace."""
        return [
            aws.s3.BucketNotificationQueueArgs(
                id=rule_id,
                queue_arn=queue.arn,
                events=[event],
                filter_prefix=self.settings.upload_prefix,
            )
        ]


def _dead_letter_queue_policies(
    name: str,
    dead_letter_queue: aws.sqs.Queue,
    sources: list[aws.sqs.Queue | None],
    parent: pulumi.Resource,
) -> None:
    """Only our queues may redrive into the dead letters; TLS only."""
    opts = pulumi.ResourceOptions(parent=parent)
    aws.sqs.RedriveAllowPolicy(
        f"{name}-dlq-redrive-allow",
        aws.sqs.RedriveAllowPolicyArgs(
            queue_url=dead_letter_queue.url,
            redrive_allow_policy=pulumi.Output.json_dumps(
                {
                    "redrivePermission": "byQueue",
                    "sourceQueueArns": [q.arn for q in sources if q],
                }
            ),
        ),
        opts=opts,
    )
    aws.sqs.QueuePolicy(
        f"{name}-dlq-policy",
        aws.sqs.QueuePolicyArgs(
            queue_url=dead_letter_queue.url,
            policy=pulumi.Output.json_dumps(
                {"Version": "2012-10-17", "Statement": [_deny_insecure(dead_letter_queue.arn)]}
            ),
        ),
        opts=opts,
    )


def _topics(
    name: str, settings: Settings, account_id: Any, parent: pulumi.Resource
) -> tuple[aws.kms.Key, aws.sns.Topic, aws.sns.Topic]:
    """(key, notification topic, alarm topic), with the e-mail subscriptions asked for."""
    opts = pulumi.ResourceOptions(parent=parent)
    topic_key = aws.kms.Key(
        f"{name}-topics-key",
        aws.kms.KeyArgs(
            description=f"{name}: encrypts the notification and alarm topics",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.json_dumps(topic_key_policy(account_id)),
        ),
        opts=opts,
    )
    topic = aws.sns.Topic(
        f"{name}-processed", aws.sns.TopicArgs(kms_master_key_id=topic_key.arn), opts=opts
    )
    alarm_topic = aws.sns.Topic(
        f"{name}-alarms", aws.sns.TopicArgs(kms_master_key_id=topic_key.arn), opts=opts
    )
    aws.sns.TopicPolicy(
        f"{name}-alarms-policy",
        aws.sns.TopicPolicyArgs(
            arn=alarm_topic.arn,
            policy=pulumi.Output.json_dumps(alarm_topic_policy(alarm_topic.arn, account_id)),
        ),
        opts=opts,
    )
    for topic_name, subscribed, email in (
        ("processed", topic, settings.notification_email),
        ("alarms", alarm_topic, settings.alarm_email),
    ):
        if email:
            aws.sns.TopicSubscription(
                f"{name}-{topic_name}-email",
                aws.sns.TopicSubscriptionArgs(
                    topic=subscribed.arn, protocol="email", endpoint=email
                ),
                opts=opts,
            )
    return topic_key, topic, alarm_topic
