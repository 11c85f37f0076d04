"""The local stack's IAM evaluation (imagepipe.local.iam, access): AWS's rules, case by case.

Pure functions, no emulator: each case is one rule of AWS's evaluation logic that the
pipeline's policies rely on, written so that the wrong answer fails.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from imagepipe.local import access
from imagepipe.local.iam import (
    Decision,
    Request,
    UnsupportedPolicyError,
    evaluate,
    service_allowed,
    trust_allows,
)
from imagepipe.local.moto_patches import distributed_map_checks

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/imagepipe-dev-inspect-role-abc1234"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/imagepipe-dev-inspect-role-abc1234/lambda-1"
BUCKET = "arn:aws:s3:::imagepipe-dev-uploads-x"


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def request(action: str, resource: str, **context: Any) -> Request:
    return Request(ROLE, SESSION, action, resource, context)


TLS_ONLY = doc(
    {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [BUCKET, f"{BUCKET}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
)


def test_an_identity_allow_on_the_object_pattern_allows() -> None:
    identity = [doc(allow(["s3:GetObject"], [f"{BUCKET}/uploads/*"]))]
    assert evaluate(request("s3:GetObject", f"{BUCKET}/uploads/a.jpg"), identity).allowed
    assert evaluate(request("s3:GetObject", f"{BUCKET}/other/a.jpg"), identity) == (
        Decision.IMPLICIT_DENY
    )
    # Actions match case-insensitively, resources do not.
    assert evaluate(request("s3:getobject", f"{BUCKET}/uploads/a.jpg"), identity).allowed
    assert not evaluate(request("s3:GetObject", f"{BUCKET}/UPLOADS/a.jpg"), identity).allowed


def test_the_tls_only_bucket_policy_denies_plain_http_whatever_identity_allows() -> None:
    identity = [doc(allow("s3:*", "*"))]
    over_tls = request("s3:GetObject", f"{BUCKET}/uploads/a.jpg", **{"aws:SecureTransport": "true"})
    plain = request("s3:GetObject", f"{BUCKET}/uploads/a.jpg", **{"aws:SecureTransport": "false"})
    assert evaluate(over_tls, identity, TLS_ONLY) is Decision.ALLOW
    assert evaluate(plain, identity, TLS_ONLY) is Decision.EXPLICIT_DENY


def test_s3_prefix_condition_limits_listing() -> None:
    identity = [
        doc(allow("s3:ListBucket", BUCKET, Condition={"StringLike": {"s3:prefix": ["uploads/*"]}}))
    ]
    assert evaluate(request("s3:ListBucket", BUCKET, **{"s3:prefix": "uploads/2024/"}), identity)
    assert not evaluate(
        request("s3:ListBucket", BUCKET, **{"s3:prefix": "private/"}), identity
    ).allowed
    # No prefix in the request: the condition cannot hold (a HEAD carries none).
    assert not evaluate(request("s3:ListBucket", BUCKET), identity).allowed


def test_a_resource_policy_naming_the_role_allows_naming_the_account_delegates() -> None:
    queue = f"arn:aws:sqs:us-east-1:{ACCOUNT}:dlq"
    names_role = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ROLE},
            "Action": "sqs:SendMessage",
            "Resource": queue,
        }
    )
    names_account = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "sqs:SendMessage",
            "Resource": queue,
        }
    )
    sending = request("sqs:SendMessage", queue)
    assert evaluate(sending, [], names_role).allowed
    assert not evaluate(sending, [], names_account).allowed
    assert evaluate(sending, [doc(allow("sqs:SendMessage", queue))], names_account).allowed


def test_a_kms_key_policy_must_allow_directly_or_delegate_to_iam() -> None:
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234"
    delegating = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    only_cloudwatch = doc(
        {
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    identity = [doc(allow(["kms:GenerateDataKey", "kms:Decrypt"], key))]
    data_key = request("kms:GenerateDataKey", key)
    assert evaluate(data_key, identity, delegating, key_policy=True).allowed
    assert not evaluate(data_key, [], delegating, key_policy=True).allowed
    assert not evaluate(data_key, identity, only_cloudwatch, key_policy=True).allowed


def test_condition_operators_missing_keys_and_if_exists() -> None:
    identity = [
        doc(
            allow(
                "sns:Publish",
                "*",
                Condition={
                    "StringNotEquals": {"aws:PrincipalTag/team": "other"},
                    "ArnLikeIfExists": {"aws:SourceArn": "arn:aws:s3:::imagepipe-*"},
                    "Null": {"aws:PrincipalArn": "false"},
                },
            )
        )
    ]
    # A negated operator and an IfExists operator hold when their key is absent.
    assert evaluate(request("sns:Publish", "t", **{"aws:PrincipalArn": ROLE}), identity).allowed
    assert not evaluate(
        request(
            "sns:Publish", "t", **{"aws:PrincipalArn": ROLE, "aws:SourceArn": "arn:aws:s3:::x"}
        ),
        identity,
    ).allowed
    # Null: false requires the key.
    assert not evaluate(request("sns:Publish", "t"), identity).allowed


def test_an_operator_the_evaluator_does_not_know_is_refused_not_guessed() -> None:
    identity = [
        doc(allow("s3:GetObject", "*", Condition={"IpAddress": {"aws:SourceIp": "1.2.3.4/32"}}))
    ]
    with pytest.raises(UnsupportedPolicyError, match="IpAddress"):
        evaluate(request("s3:GetObject", f"{BUCKET}/a"), identity)


def test_a_trust_policy_is_held_to_its_source_account_and_arn() -> None:
    trust = doc(
        {
            "Effect": "Allow",
            "Principal": {"Service": "states.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                "ArnLike": {"aws:SourceArn": f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:*"},
            },
        }
    )
    ours = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:imagepipe-dev-backfill"
    ctx = {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": ours}
    assert trust_allows(trust, "states.amazonaws.com", ctx)
    assert not trust_allows(trust, "lambda.amazonaws.com", ctx)
    assert not trust_allows(trust, "states.amazonaws.com", {**ctx, "aws:SourceAccount": "999"})
    assert not trust_allows(
        trust, "states.amazonaws.com", {**ctx, "aws:SourceArn": "arn:aws:pipes:us-east-1:1:pipe/x"}
    )


def test_s3_requests_map_to_the_actions_aws_checks() -> None:
    def actions(*args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        checks = access.s3_checks(*args, **kwargs)
        assert checks is not None
        return [(c.action, c.resource) for c in checks]

    obj = "arn:aws:s3:::b/uploads/a.jpg"
    assert actions("HEAD", "b", "uploads/a.jpg", {}, {}) == [("s3:GetObject", obj)]
    assert actions("PUT", "b", "uploads/a.jpg", {}, {}) == [("s3:PutObject", obj)]
    assert actions("DELETE", "b", "uploads/a.jpg", {"uploadId": ["1"]}, {}) == [
        ("s3:AbortMultipartUpload", obj)
    ]
    assert actions("GET", "b", "uploads/a.jpg", {"uploadId": ["1"]}, {}) == [
        ("s3:ListMultipartUploadParts", obj)
    ]
    # A copy reads the source; copying its tags needs the tagging actions on both sides.
    copy = {"x-amz-copy-source": "src/uploads/a%20b.jpg"}
    assert actions("PUT", "bak", "uploads/a b.jpg", {}, copy, source_tagged=lambda b, k: True) == [
        ("s3:PutObject", "arn:aws:s3:::bak/uploads/a b.jpg"),
        ("s3:GetObject", "arn:aws:s3:::src/uploads/a b.jpg"),
        ("s3:GetObjectTagging", "arn:aws:s3:::src/uploads/a b.jpg"),
        ("s3:PutObjectTagging", "arn:aws:s3:::bak/uploads/a b.jpg"),
    ]
    assert len(actions("PUT", "bak", "k", {}, copy)) == 2  # an untagged source: no tag actions
    listing = access.s3_checks("GET", "b", None, {"list-type": ["2"], "prefix": ["uploads/"]}, {})
    assert listing == [access.Check("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "uploads/"})]
    body = (
        b"<Delete><Object><Key>a/x.webp</Key></Object><Object><Key>b/x.webp</Key></Object></Delete>"
    )
    assert actions("POST", "r", None, {"delete": [""]}, {}, body) == [
        ("s3:DeleteObject", "arn:aws:s3:::r/a/x.webp"),
        ("s3:DeleteObject", "arn:aws:s3:::r/b/x.webp"),
    ]
    # A bucket sub-resource the pipeline's roles never use is not modelled: refused.
    assert access.s3_checks("GET", "b", None, {"policy": [""]}, {}) is None


def test_distributed_map_children_are_checked_in_the_arn_form_of_their_type() -> None:
    machine = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:imagepipe-dev-backfill"
    state = {
        "Type": "Map",
        "Label": "objects",
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}},
        "ResultWriter": {"Parameters": {"Bucket": "bak", "Prefix": "backfill-runs"}},
    }
    checks = {c.action: c.resource for c in distributed_map_checks(machine, state)}
    assert checks["states:StartExecution"] == machine
    assert checks["states:DescribeExecution"].startswith(
        f"arn:aws:states:us-east-1:{ACCOUNT}:express:imagepipe-dev-backfill/objects:"
    )
    for action in (
        "s3:PutObject",
        "s3:GetObject",
        "s3:ListMultipartUploadParts",
        "s3:AbortMultipartUpload",
    ):
        assert checks[action].startswith("arn:aws:s3:::bak/backfill-runs/")
    standard = {**state, "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}}}
    described = {c.action: c.resource for c in distributed_map_checks(machine, standard)}
    assert described["states:StopExecution"].startswith(
        f"arn:aws:states:us-east-1:{ACCOUNT}:execution:imagepipe-dev-backfill/objects:"
    )
    inline = {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}}}
    assert distributed_map_checks(machine, inline) == []


INGEST = f"arn:aws:sqs:us-east-1:{ACCOUNT}:imagepipe-dev-ingest"
S3_MAY_SEND = doc(
    {
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": INGEST,
        "Condition": {
            "ArnEquals": {"aws:SourceArn": "arn:aws:s3:::imagepipe-dev-source-1"},
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
        },
    }
)


def test_a_service_principal_is_allowed_only_by_the_resource_policy_and_its_conditions() -> None:
    ours = {"aws:SourceArn": "arn:aws:s3:::imagepipe-dev-source-1", "aws:SourceAccount": ACCOUNT}
    assert service_allowed(S3_MAY_SEND, "s3.amazonaws.com", "sqs:SendMessage", INGEST, ours).allowed
    other_bucket = {**ours, "aws:SourceArn": "arn:aws:s3:::someone-else"}
    assert not service_allowed(
        S3_MAY_SEND, "s3.amazonaws.com", "sqs:SendMessage", INGEST, other_bucket
    ).allowed
    other_account = {**ours, "aws:SourceAccount": "999999999999"}
    assert not service_allowed(
        S3_MAY_SEND, "s3.amazonaws.com", "sqs:SendMessage", INGEST, other_account
    ).allowed
    assert not service_allowed(None, "s3.amazonaws.com", "sqs:SendMessage", INGEST, ours).allowed


def test_s3_refuses_a_notification_to_a_queue_whose_policy_does_not_let_it_send() -> None:
    """As PutBucketNotificationConfiguration does on AWS ("Unable to validate ...")."""
    from moto import mock_aws

    from imagepipe.local.clients import emulator
    from imagepipe.local.providers import REGISTRY, MotoMocks, RefusedByAwsError

    with mock_aws():
        clients = emulator("us-east-1")
        sqs = clients.client("sqs")
        url = sqs.create_queue(QueueName="imagepipe-dev-ingest")["QueueUrl"]
        clients.client("s3").create_bucket(Bucket="imagepipe-dev-source-1")
        mocks = MotoMocks(clients)
        inputs = {
            "bucket": "imagepipe-dev-source-1",
            "queues": [{"queueArn": INGEST, "events": ["s3:ObjectCreated:*"]}],
        }
        notification = REGISTRY["aws:s3/bucketNotification:BucketNotification"]
        with pytest.raises(RefusedByAwsError, match="Unable to validate"):
            notification(mocks, "n", inputs)
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(S3_MAY_SEND)})
        notification(mocks, "n", inputs)  # now S3 may send: accepted
