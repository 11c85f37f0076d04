"""S3: buckets and their configuration resources, and the bucket notification.

The S3 -> SQS notification is moto's own, so uploads land in the ingest queue the way
S3 delivers them (including S3's `s3:TestEvent`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from imagepipe.local.iam import service_allowed
from imagepipe.local.providers import base
from imagepipe.local.providers.base import Context, Handler, Inputs, Outputs, RefusedByAwsError


def _bucket(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    name = base.physical_name(logical, inputs, "bucket", "bucketPrefix").lower()
    s3 = ctx.clients.client("s3")
    if ctx.region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": ctx.region})
    return name, {
        "bucket": name,
        "arn": f"arn:aws:s3:::{name}",
        "region": ctx.region,
        "bucketDomainName": f"{name}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{name}.s3.{ctx.region}.amazonaws.com",
    }


def _bucket_setting(method: str, arguments: Callable[[Inputs], dict[str, Any]]) -> Handler:
    """A bucket configuration resource: one S3 Put call on the bucket, which is its id."""

    def put(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        getattr(ctx.clients.client("s3"), method)(Bucket=inputs["bucket"], **arguments(inputs))
        return inputs["bucket"], {}

    return put


_PUBLIC_ACCESS: Final = (
    "blockPublicAcls",
    "ignorePublicAcls",
    "blockPublicPolicy",
    "restrictPublicBuckets",
)
# Schema names whose API spelling is not the input's with a capital first letter.
_RENAMES: Final = {"id": "ID", "sseAlgorithm": "SSEAlgorithm", "kmsMasterKeyId": "KMSMasterKeyID"}


# A notification's destinations: input key, the API's configuration list, the ARN's key.
_DESTINATIONS: Final = (
    ("queues", "QueueConfigurations", "queueArn"),
    ("topics", "TopicConfigurations", "topicArn"),
    ("lambdaFunctions", "LambdaFunctionConfigurations", "lambdaFunctionArn"),
)


def _destination(item: Mapping[str, Any], arn_key: str) -> dict[str, Any]:
    """One queue/topic/function configuration of a notification, as the API takes it."""
    rules = [
        {"Name": name, "Value": item[key]}
        for name, key in (("prefix", "filterPrefix"), ("suffix", "filterSuffix"))
        if item.get(key)
    ]
    out = {"Events": list(item["events"]), **base.given(item, arn_key, "id")}
    if rules:
        out["Filter"] = {"Key": {"FilterRules": rules}}
    return out


def _notification(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    bucket = inputs["bucket"]
    configuration: dict[str, Any] = {
        api: [_destination(item, arn_key) for item in inputs.get(key) or []]
        for key, api, arn_key in _DESTINATIONS
    }
    if inputs.get("eventbridge"):
        configuration["EventBridgeConfiguration"] = {}
    for queue in configuration["QueueConfigurations"]:
        _validate_destination(ctx, bucket, queue["QueueArn"])
    # moto's own notification machinery: it also sends S3's s3:TestEvent, as AWS does.
    ctx.clients.client("s3").put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration=configuration
    )
    return bucket, {}


def _validate_destination(ctx: Context, bucket: str, queue_arn: str) -> None:
    """As S3 does when the configuration is put: the queue's policy must let S3 send
    for this bucket and account, or the call fails ("Unable to validate the following
    destination configurations")."""
    sqs = ctx.clients.client("sqs")
    url = sqs.get_queue_url(QueueName=queue_arn.split(":")[-1])["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
    policy = attributes.get("Attributes", {}).get("Policy")
    context = {
        "aws:SourceArn": f"arn:aws:s3:::{bucket}",
        "aws:SourceAccount": ctx.account_id,
        "aws:SecureTransport": "true",
    }
    decision = service_allowed(policy, "s3.amazonaws.com", "sqs:SendMessage", queue_arn, context)
    if not decision.allowed:
        raise RefusedByAwsError(
            f"S3 bucket {bucket}: Unable to validate the following destination "
            f"configurations: the policy of {queue_arn} does not let s3.amazonaws.com "
            "send messages for this bucket (InvalidArgument)"
        )


RESOURCES: Final[dict[str, Handler]] = {
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _bucket_setting(
        "put_public_access_block",
        # All four, an absent one as false (the provider's default), as the provider sends
        # them: S3 refuses a configuration that names none ("Must specify at least one").
        lambda i: {
            "PublicAccessBlockConfiguration": base.pascal(
                {k: bool(i.get(k)) for k in _PUBLIC_ACCESS}
            )
        },
    ),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _bucket_setting(
        "put_bucket_ownership_controls",
        lambda i: {"OwnershipControls": {"Rules": [base.pascal(i["rule"])]}},
    ),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _bucket_setting(  # noqa: E501
        "put_bucket_encryption",
        lambda i: {
            "ServerSideEncryptionConfiguration": {"Rules": base.pascal(i["rules"], _RENAMES)}
        },
    ),
    "aws:s3/bucketPolicy:BucketPolicy": _bucket_setting(
        "put_bucket_policy", lambda i: {"Policy": i["policy"]}
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _bucket_setting(
        "put_bucket_lifecycle_configuration",
        lambda i: {"LifecycleConfiguration": {"Rules": base.pascal(i["rules"], _RENAMES)}},
    ),
    "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration": _bucket_setting(
        "put_bucket_cors",
        lambda i: {"CORSConfiguration": {"CORSRules": base.pascal(i["corsRules"], _RENAMES)}},
    ),
    "aws:s3/bucketNotification:BucketNotification": _notification,
}
