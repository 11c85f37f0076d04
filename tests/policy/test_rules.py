"""The guardrail rules pass on the real program and fail, naming the resource, on broken ones.

Broken variants come two ways: the program itself, deployed under mocks with one of its
building blocks swapped (a bucket policy without the TLS deny, a role policy with s3:*...),
and the recorded resources with one property changed or one resource removed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import pulumi
import pytest

from infra import iam, storage
from infra.settings import Settings
from policy import rules
from tests.infra.conftest import ACCOUNT, deploy
from tests.policy.conftest import as_rule_resources, find

Resources = list[rules.Resource]


def test_the_program_passes_every_rule(resources: Resources) -> None:
    assert rules.evaluate(resources) == []


@pytest.mark.parametrize(
    "settings",
    [
        Settings(workflow_type="EXPRESS"),
        Settings(notification_email="ops@example.com", alarm_email="oncall@example.com"),
        Settings(log_retention_days=7, backup_transition_days=0, backup_expiration_days=0),
    ],
    ids=["express", "email-subscriptions", "short-retention-no-lifecycle"],
)
def test_other_settings_pass_too(settings: Settings) -> None:
    assert rules.evaluate(as_rule_resources(deploy(settings))) == []


def test_the_rules_see_every_kind_of_resource_they_guard(resources: Resources) -> None:
    """Guards against a rule passing only because the program's types were renamed."""
    types = {r.type for r in resources}
    guarded = set().union(*(rule.types for rule in rules.RESOURCE_RULES))
    # API routes and stages exist only with uploadApi (tests/policy/test_upload_api_rules.py).
    assert guarded - {rules.IAM_POLICY, rules.API_ROUTE, rules.API_STAGE} <= types
    assert {rules.PUBLIC_ACCESS_BLOCK, rules.OWNERSHIP_CONTROLS, rules.BUCKET_POLICY} <= types
    assert [b.name for b in rules.watched_buckets(resources)] == ["imagepipe-dev-source"]


# --- broken variants ---------------------------------------------------------------------


@cache
def _upload_api_program() -> tuple[rules.Resource, ...]:
    settings = Settings(
        upload_api=True,
        upload_api_issuer="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc123",
        upload_api_audience=("web-client",),
    )
    return tuple(as_rule_resources(deploy(settings)))


def with_upload_api() -> Resources:
    """The program with the upload API (an HTTP API route and stage), under mocks."""
    return list(_upload_api_program())


def changed(resources: Resources, typ: str, suffix: str, **props: Any) -> Resources:
    """The resources with one resource's properties changed (None removes a property)."""
    target = find(resources, typ, suffix)
    merged = {k: v for k, v in {**target.props, **props}.items() if v is not None}
    return [replace(r, props=merged) if r is target else r for r in resources]


def without(resources: Resources, typ: str, suffix: str) -> Resources:
    target = find(resources, typ, suffix)
    return [r for r in resources if r is not target]


def policy_text(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
SOURCE_ARN = "arn:aws:s3:::imagepipe-dev-source"
TLS_DENY = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": [SOURCE_ARN, f"{SOURCE_ARN}/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
TRUST = {
    "Effect": "Allow",
    "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole",
    "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
}


@dataclass(frozen=True)
class Broken:
    """A broken variant: how to make it, which rule must fail, on which resource."""

    make: Callable[[Resources, pytest.MonkeyPatch], Resources]
    rule: str
    resource: str
    says: str = ""


def program_with(patch: Callable[[pytest.MonkeyPatch], None]) -> Callable[..., Resources]:
    """A variant of the program itself: deploy it with one building block swapped."""

    def make(_resources: Resources, monkeypatch: pytest.MonkeyPatch) -> Resources:
        patch(monkeypatch)
        return as_rule_resources(deploy(Settings()))

    return make


def _no_tls_deny(monkeypatch: pytest.MonkeyPatch) -> None:
    def allow_account_reads(bucket_arn: Any) -> dict[str, Any]:
        return iam.document(
            {
                "Sid": "AccountReads",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "s3:GetObject",
                "Resource": pulumi.Output.concat(bucket_arn, "/*"),
            }
        )

    monkeypatch.setattr(storage, "deny_insecure_transport", allow_account_reads)


def _extra_statement(function: str, statement: Callable[..., iam.Statement]) -> Callable[..., None]:
    """Patch infra.iam.<function> so its document gains one statement, built from its
    arguments (the function policies take the source bucket ARN, then the upload prefix)."""

    def patch(monkeypatch: pytest.MonkeyPatch) -> None:
        original = getattr(iam, function)

        def broken(*args: Any, **kwargs: Any) -> iam.Document:
            document: iam.Document = original(*args, **kwargs)
            document["Statement"].append(statement(*args, **kwargs))
            return document

        monkeypatch.setattr(iam, function, broken)

    return patch


BROKEN: dict[str, Broken] = {
    # S3 buckets
    "bucket-policy-without-tls-deny": Broken(
        program_with(_no_tls_deny),
        "s3-bucket-guardrails",
        "imagepipe-dev-source",
        "aws:SecureTransport",
    ),
    "tls-deny-on-objects-only": Broken(
        lambda rs, _: changed(
            rs,
            rules.BUCKET_POLICY,
            "-source-policy",
            policy=policy_text({**TLS_DENY, "Resource": f"{SOURCE_ARN}/*"}),
        ),
        "s3-bucket-guardrails",
        "imagepipe-dev-source",
        "aws:SecureTransport",
    ),
    "tls-deny-for-get-only": Broken(
        lambda rs, _: changed(
            rs,
            rules.BUCKET_POLICY,
            "-source-policy",
            policy=policy_text({**TLS_DENY, "Action": "s3:GetObject"}),
        ),
        "s3-bucket-guardrails",
        "imagepipe-dev-source",
        "aws:SecureTransport",
    ),
    "no-bucket-policy": Broken(
        lambda rs, _: without(rs, rules.BUCKET_POLICY, "-backup-policy"),
        "s3-bucket-guardrails",
        "imagepipe-dev-backup",
        "no bucket policy",
    ),
    "no-public-access-block": Broken(
        lambda rs, _: without(rs, rules.PUBLIC_ACCESS_BLOCK, "-renditions-public-access"),
        "s3-bucket-guardrails",
        "imagepipe-dev-renditions",
        "public access block",
    ),
    "public-access-block-flag-off": Broken(
        lambda rs, _: changed(
            rs, rules.PUBLIC_ACCESS_BLOCK, "-source-public-access", restrictPublicBuckets=False
        ),
        "s3-bucket-guardrails",
        "imagepipe-dev-source",
        "restrictPublicBuckets",
    ),
    "acls-enabled": Broken(
        lambda rs, _: changed(
            rs,
            rules.OWNERSHIP_CONTROLS,
            "-backup-ownership",
            rule={"objectOwnership": "ObjectWriter"},
        ),
        "s3-bucket-guardrails",
        "imagepipe-dev-backup",
        "BucketOwnerEnforced",
    ),
    "no-encryption-configuration": Broken(
        lambda rs, _: without(rs, SSE, "-source-encryption"),
        "s3-bucket-guardrails",
        "imagepipe-dev-source",
        "encryption",
    ),
    # Queues and topics
    "unencrypted-queue": Broken(
        lambda rs, _: changed(rs, rules.QUEUE, "-ingest", sqsManagedSseEnabled=False),
        "sqs-queue-encrypted",
        "imagepipe-dev-ingest",
    ),
    "topic-without-key": Broken(
        lambda rs, _: changed(rs, rules.TOPIC, "-processed", kmsMasterKeyId=None),
        "sns-topic-encrypted",
        "imagepipe-dev-processed",
    ),
    # IAM
    "role-policy-with-s3-star": Broken(
        program_with(
            _extra_statement(
                "inspect_policy",
                lambda source, prefix, *_: iam.allow(
                    "Everything", ["s3:*"], [iam.objects(source, prefix)]
                ),
            )
        ),
        "iam-no-wildcard-actions",
        "imagepipe-dev-inspect-role-policy",
        "s3:*",
    ),
    "trust-policy-with-sts-star": Broken(
        lambda rs, _: changed(
            rs,
            rules.ROLE,
            "-resize-role",
            assumeRolePolicy=policy_text({**TRUST, "Action": "sts:*"}),
        ),
        "iam-no-wildcard-actions",
        "imagepipe-dev-resize-role",
        "sts:*",
    ),
    "allow-with-not-action": Broken(
        lambda rs, _: changed(
            rs,
            rules.ROLE_POLICY,
            "-pipe-role-policy",
            policy=policy_text(
                {"Effect": "Allow", "NotAction": ["iam:PassRole"], "Resource": f"{SOURCE_ARN}/*"}
            ),
        ),
        "iam-no-wildcard-actions",
        "imagepipe-dev-pipe-role-policy",
        "NotAction",
    ),
    "star-resource-for-get-object": Broken(
        program_with(
            _extra_statement(
                "resize_policy",
                lambda *_: iam.allow("ReadAnything", ["s3:GetObject"], ["*"]),
            )
        ),
        "iam-star-resource-allowlist",
        "imagepipe-dev-resize-role-policy",
        "s3:GetObject",
    ),
    "star-resource-in-inline-policy": Broken(
        lambda rs, _: changed(
            rs,
            rules.ROLE,
            "-pipe-role",
            inlinePolicies=[
                {
                    "name": "extra",
                    "policy": policy_text(
                        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}
                    ),
                }
            ],
        ),
        "iam-star-resource-allowlist",
        "imagepipe-dev-pipe-role",
        "sqs:SendMessage",
    ),
    "function-role-writes-source-bucket": Broken(
        program_with(
            _extra_statement(
                "resize_policy",
                lambda source, *_: iam.allow(
                    "WriteUploads", ["s3:PutObject"], [iam.objects(source)]
                ),
            )
        ),
        "no-writes-to-source-bucket",
        "imagepipe-dev-resize-role-policy",
        "imagepipe-dev-source",
    ),
    "workflow-deletes-from-source-bucket": Broken(
        lambda rs, _: changed(
            rs,
            rules.ROLE_POLICY,
            "-workflow-role-policy",
            policy=policy_text(
                {
                    "Effect": "Allow",
                    "Action": "s3:DeleteObject",
                    "Resource": f"{SOURCE_ARN}/uploads/*",
                }
            ),
        ),
        "no-writes-to-source-bucket",
        "imagepipe-dev-workflow-role-policy",
        "s3:DeleteObject",
    ),
    "write-through-a-bucket-wildcard": Broken(
        lambda rs, _: changed(
            rs,
            rules.ROLE_POLICY,
            "-inspect-role-policy",
            policy=policy_text(
                {
                    "Effect": "Allow",
                    "Action": "s3:PutObject",
                    "Resource": "arn:aws:s3:::imagepipe-*/*",
                }
            ),
        ),
        "no-writes-to-source-bucket",
        "imagepipe-dev-inspect-role-policy",
        "imagepipe-dev-source",
    ),
    # Delivery: the renditions bucket is read by its own distribution only
    "renditions-readable-by-everyone": Broken(
        lambda rs, _: changed(
            rs,
            rules.BUCKET_POLICY,
            "-renditions-policy",
            policy=policy_text(
                TLS_DENY,
                {
                    "Sid": "Public",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::imagepipe-dev-renditions/*",
                },
            ),
        ),
        "bucket-read-only-by-own-distribution",
        "imagepipe-dev-renditions-policy",
        "not only cloudfront.amazonaws.com",
    ),
    "renditions-readable-by-any-distribution": Broken(
        lambda rs, _: changed(
            rs,
            rules.BUCKET_POLICY,
            "-renditions-policy",
            policy=policy_text(
                TLS_DENY,
                {
                    "Sid": "AllowCloudFrontRead",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudfront.amazonaws.com"},
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::imagepipe-dev-renditions/*",
                },
            ),
        ),
        "bucket-read-only-by-own-distribution",
        "imagepipe-dev-renditions-policy",
        "no AWS:SourceArn",
    ),
    "renditions-readable-by-another-distribution": Broken(
        lambda rs, _: changed(
            rs,
            rules.BUCKET_POLICY,
            "-renditions-policy",
            policy=policy_text(
                TLS_DENY,
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudfront.amazonaws.com"},
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::imagepipe-dev-renditions/*",
                    "Condition": {
                        "StringEquals": {
                            "AWS:SourceArn": "arn:aws:cloudfront::111111111111:distribution/EOTHER"
                        }
                    },
                },
            ),
        ),
        "bucket-read-only-by-own-distribution",
        "imagepipe-dev-renditions-policy",
        "not this stack's",
    ),
    # Observability
    "function-not-traced": Broken(
        lambda rs, _: changed(rs, rules.FUNCTION, "-resize", tracingConfig={"mode": "PassThrough"}),
        "lambda-xray-active",
        "imagepipe-dev-resize",
        "PassThrough",
    ),
    "state-machine-not-logging": Broken(
        lambda rs, _: changed(rs, rules.STATE_MACHINE, "-workflow", loggingConfiguration=None),
        "state-machine-logs-and-traces",
        "imagepipe-dev-workflow",
        "does not log",
    ),
    "state-machine-not-tracing": Broken(
        lambda rs, _: changed(
            rs, rules.STATE_MACHINE, "-workflow", tracingConfiguration={"enabled": False}
        ),
        "state-machine-logs-and-traces",
        "imagepipe-dev-workflow",
        "X-Ray",
    ),
    # The catalogue
    "catalogue-without-sse": Broken(
        lambda rs, _: changed(rs, rules.TABLE, "-catalogue", serverSideEncryption=None),
        "dynamodb-table-encrypted-and-recoverable",
        "imagepipe-dev-catalogue",
        "serverSideEncryption.enabled",
    ),
    "catalogue-sse-off": Broken(
        lambda rs, _: changed(
            rs, rules.TABLE, "-catalogue", serverSideEncryption={"enabled": False}
        ),
        "dynamodb-table-encrypted-and-recoverable",
        "imagepipe-dev-catalogue",
        "not encrypted",
    ),
    "catalogue-without-point-in-time-recovery": Broken(
        lambda rs, _: changed(
            rs, rules.TABLE, "-catalogue", pointInTimeRecovery={"enabled": False}
        ),
        "dynamodb-table-encrypted-and-recoverable",
        "imagepipe-dev-catalogue",
        "pointInTimeRecovery.enabled",
    ),
    "log-group-without-retention": Broken(
        lambda rs, _: changed(rs, rules.LOG_GROUP, "-workflow-logs", retentionInDays=None),
        "log-group-retention",
        "imagepipe-dev-workflow-logs",
    ),
    "api-route-open-to-anyone": Broken(
        lambda rs, _: changed(
            with_upload_api(), rules.API_ROUTE, "-upload-api-route", authorizationType="NONE"
        ),
        "api-route-authorized",
        "imagepipe-dev-upload-api-route",
        "lets anyone call it",
    ),
    "api-stage-unthrottled": Broken(
        lambda rs, _: changed(
            with_upload_api(), rules.API_STAGE, "-upload-api-stage", defaultRouteSettings=None
        ),
        "api-stage-logged-and-throttled",
        "imagepipe-dev-upload-api-stage",
        "is not throttled",
    ),
}


@pytest.mark.parametrize("variant", list(BROKEN))
def test_each_rule_fails_on_its_broken_variant(
    variant: str, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = BROKEN[variant]
    found = rules.evaluate(broken.make(resources, monkeypatch))
    hits = [v for v in found if v.rule == broken.rule and v.resource == broken.resource]
    assert hits, f"{variant}: expected {broken.rule} on {broken.resource}, got {found}"
    for hit in hits:
        assert f"'{broken.resource}'" in hit.message  # the message names the resource
        assert hit.urn.endswith(f"::{broken.resource}")
    assert any(broken.says in hit.message for hit in hits), hits


def test_every_rule_has_a_broken_variant() -> None:
    names = {r.name for r in rules.RESOURCE_RULES} | {r.name for r in rules.STACK_RULES}
    assert {b.rule for b in BROKEN.values()} == names
    assert len(names) == len(rules.RESOURCE_RULES) + len(rules.STACK_RULES)


def test_a_broken_variant_is_reported_only_where_it_is(
    resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = rules.evaluate(BROKEN["unencrypted-queue"].make(resources, monkeypatch))
    assert [(v.rule, v.resource) for v in found] == [
        ("sqs-queue-encrypted", "imagepipe-dev-ingest")
    ]


# --- edges: what must not be flagged, and values not known during preview -----------------


def test_writes_to_other_buckets_with_a_similar_name_are_fine(resources: Resources) -> None:
    other = "arn:aws:s3:::imagepipe-dev-source-archive"
    variant = changed(
        resources,
        rules.ROLE_POLICY,
        "-resize-role-policy",
        policy=policy_text(
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"{other}/*"},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{SOURCE_ARN}/uploads/*"},
        ),
    )
    assert rules.evaluate(variant) == []


def test_a_deny_on_star_grants_nothing_and_passes(resources: Resources) -> None:
    deny = {"Effect": "Deny", "Action": ["s3:DeleteBucket"], "Resource": "*"}
    variant = changed(resources, rules.ROLE_POLICY, "-pipe-role-policy", policy=policy_text(deny))
    assert rules.evaluate(variant) == []


@pytest.mark.parametrize(
    ("action", "writes"),
    [
        ("s3:PutObject", True),
        ("S3:putobject", True),
        ("s3:DeleteObjectVersion", True),
        ("s3:RestoreObject", True),
        ("s3:AbortMultipartUpload", True),
        ("s3:ReplicateObject", True),
        ("s3:Put*", True),
        ("s3:*", True),
        ("*", True),
        ("s3:*Object", True),
        ("s3:GetObject", False),
        ("s3:Get*", False),
        ("s3:ListBucket", False),
        ("sqs:DeleteMessage", False),
    ],
)
def test_s3_write_actions(action: str, writes: bool) -> None:
    assert rules.may_write_s3(action) is writes


@pytest.mark.parametrize(
    ("pattern", "reaches"),
    [
        (SOURCE_ARN, True),
        (f"{SOURCE_ARN}/*", True),
        (f"{SOURCE_ARN}/uploads/photo.jpg", True),
        ("arn:aws:s3:::*/uploads/*", True),
        ("arn:aws:s3:::imagepipe-dev-sourc?/*", True),
        ("*", True),
        ("arn:aws:s3:::imagepipe-dev-source-archive/*", False),
        ("arn:aws:s3:::imagepipe-dev-renditions/*", False),
    ],
)
def test_resource_patterns_that_reach_the_source_bucket(pattern: str, reaches: bool) -> None:
    assert rules.covers_bucket(pattern, SOURCE_ARN) is reaches


def test_unknown_values_are_left_for_the_update(resources: Resources) -> None:
    """During a first preview ARNs and documents are unknown: not a violation (yet)."""
    unknown = rules.UNKNOWN
    variant = changed(resources, rules.BUCKET_POLICY, "-source-policy", policy=unknown)
    variant = changed(variant, rules.QUEUE, "-ingest", sqsManagedSseEnabled=unknown)
    variant = changed(variant, rules.ROLE_POLICY, "-resize-role-policy", policy=unknown)
    variant = changed(variant, rules.LOG_GROUP, "-inspect-logs", retentionInDays=unknown)
    assert rules.evaluate(variant) == []


def test_bucket_resources_are_related_by_dependency_when_ids_are_unknown(
    resources: Resources,
) -> None:
    """In preview a bucket-level resource's `bucket` is unknown, but the engine still says
    which bucket it came from (property dependencies)."""
    bucket = find(resources, "aws:s3/bucket:Bucket", "-source")
    unknown_ids = [
        replace(
            r,
            props={**r.props, "bucket": rules.UNKNOWN},
            dependencies={"bucket": frozenset({bucket.urn})},
        )
        if r.get("bucket") == f"{bucket.name}-id"
        else r
        for r in resources
    ]
    assert [v for v in rules.evaluate(unknown_ids) if v.resource == bucket.name] == []
    block = find(unknown_ids, rules.PUBLIC_ACCESS_BLOCK, "-source-public-access")
    no_block = [r for r in unknown_ids if r is not block]
    [violation] = [v for v in rules.evaluate(no_block) if v.resource == bucket.name]
    assert "no public access block" in violation.message


def test_not_json_is_reported(resources: Resources) -> None:
    variant = changed(resources, rules.ROLE_POLICY, "-pipe-role-policy", policy="{not json")
    [violation] = rules.evaluate(variant)
    assert violation.rule == "iam-no-wildcard-actions"
    assert "'imagepipe-dev-pipe-role-policy'" in violation.message
