"""S3: buckets and their configuration resources, and the bucket notification.

The S3 -> SQS notification is moto's own, so uploads land in the ingest queue the way
S3 delivers them (including S3's `s3:TestEvent`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from imagepipe.local.iam import service_allowed
from imagepipe.local.providers.base import (
    Context,
    Handler,
    Inputs,
    Outputs,
    RefusedByAwsError,
    as_json,
    pascal,
    physical_name,
)


def _bucket(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    name = physical_name(logical, inputs, "bucket", "bucketPrefix").lower()
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


def _public_access_block(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    bucket = inputs["bucket"]
    ctx.clients.client("s3").put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": bool(inputs.get("blockPublicAcls")),
            "IgnorePublicAcls": bool(inputs.get("ignorePublicAcls")),
            "BlockPublicPolicy": bool(inputs.get("blockPublicPolicy")),
            "RestrictPublicBuckets": bool(inputs.get("restrictPublicBuckets")),
        },
    )
    return bucket, {}


def _ownership(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    bucket = inputs["bucket"]
    ctx.clients.client("s3").put_bucket_ownership_controls(
        Bucket=bucket,
        OwnershipControls={"Rules": [{"ObjectOwnership": inputs["rule"]["objectOwnership"]}]},
    )
    return bucket, {}


def _encryption_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    default = rule.get("applyServerSideEncryptionByDefault") or {}
    by_default: dict[str, Any] = {"SSEAlgorithm": default["sseAlgorithm"]}
    if default.get("kmsMasterKeyId"):
        by_default["KMSMasterKeyID"] = default["kmsMasterKeyId"]
    api_rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": by_default}
    if rule.get("bucketKeyEnabled") is not None:
        api_rule["BucketKeyEnabled"] = bool(rule["bucketKeyEnabled"])
    return api_rule


def _encryption(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    bucket = inputs["bucket"]
    rules = [_encryption_rule(rule) for rule in inputs["rules"]]
    ctx.clients.client("s3").put_bucket_encryption(
        Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules}
    )
    return bucket, {}


def _bucket_policy(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    bucket = inputs["bucket"]
    ctx.clients.client("s3").put_bucket_policy(Bucket=bucket, Policy=as_json(inputs["policy"]))
    return bucket, {}


def _lifecycle(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    bucket = inputs["bucket"]
    rules = pascal(inputs["rules"], {"id": "ID"})
    ctx.clients.client("s3").put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": rules}
    )
    return bucket, {}


def _destination(item: Mapping[str, Any], arn_key: str, api_arn_key: str) -> dict[str, Any]:
    """One queue/topic/function configuration of a notification, as the API takes it."""
    rules = [
        {"Name": name, "Value": item[key]}
        for name, key in (("prefix", "filterPrefix"), ("suffix", "filterSuffix"))
        if item.get(key)
    ]
    out: dict[str, Any] = {api_arn_key: item[arn_key], "Events": list(item["events"])}
    if item.get("id"):
        out["Id"] = item["id"]
    if rules:
        out["Filter"] = {"Key": {"FilterRules": rules}}
    return out


def _notification(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    bucket = inputs["bucket"]
    configuration: dict[str, Any] = {
        "QueueConfigurations": [
            _destination(q, "queueArn", "QueueArn") for q in inputs.get("queues") or []
        ],
        "TopicConfigurations": [
            _destination(t, "topicArn", "TopicArn") for t in inputs.get("topics") or []
        ],
        "LambdaFunctionConfigurations": [
            _destination(f, "lambdaFunctionArn", "LambdaFunctionArn")
            for f in inputs.get("lambdaFunctions") or []
        ],
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


def _cors(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    bucket = inputs["bucket"]
    rules = pascal(inputs["corsRules"], {"id": "ID"})
    ctx.clients.client("s3").put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    return bucket, {}


RESOURCES: Final[dict[str, Handler]] = {
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketV2:BucketV2": _bucket,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _public_access_block,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _ownership,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _encryption,  # noqa: E501
    "aws:s3/bucketPolicy:BucketPolicy": _bucket_policy,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _lifecycle,
    "aws:s3/bucketNotification:BucketNotification": _notification,
    "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration": _cors,
}
