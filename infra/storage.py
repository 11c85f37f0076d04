"""S3: the source (uploads), destination (renditions) and backup (originals) buckets.

Every bucket blocks public access, enforces bucket-owner ownership (no ACLs), declares
encryption at rest and refuses plain-HTTP requests. Three buckets rather than one so no
function ever writes where uploads are watched (that would loop forever).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.settings import Settings


@dataclass(frozen=True)
class Buckets:
    source: aws.s3.Bucket
    destination: aws.s3.Bucket
    backup: aws.s3.Bucket
    # The source and backup buckets' policies, so dependents can wait for the buckets to
    # be locked down. The renditions bucket's one policy also lets its CloudFront
    # distribution read, so it is made after the distribution (infra/delivery.py).
    policies: tuple[aws.s3.BucketPolicy, ...]
    # The renditions bucket's policy must wait for it.
    destination_access_block: aws.s3.BucketPublicAccessBlock


def deny_insecure_transport(bucket_arn: Any) -> dict[str, Any]:
    """Bucket policy: refuse every request not made over TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def secure_bucket(
    name: str, parent: pulumi.Resource
) -> tuple[aws.s3.Bucket, aws.s3.BucketPolicy, aws.s3.BucketPublicAccessBlock]:
    """A private, encrypted, TLS-only bucket."""
    bucket, access_block = private_bucket(name, parent)
    policy = aws.s3.BucketPolicy(
        f"{name}-policy",
        aws.s3.BucketPolicyArgs(
            bucket=bucket.id, policy=pulumi.Output.json_dumps(deny_insecure_transport(bucket.arn))
        ),
        # S3 refuses a bucket policy while Block Public Access is being set up.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[access_block]),
    )
    return bucket, policy, access_block


def private_bucket(
    name: str, parent: pulumi.Resource
) -> tuple[aws.s3.Bucket, aws.s3.BucketPublicAccessBlock]:
    """A private, encrypted bucket without its policy yet."""
    opts = pulumi.ResourceOptions(parent=parent)
    bucket = aws.s3.Bucket(name, aws.s3.BucketArgs(force_destroy=False), opts=opts)
    access_block = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        aws.s3.BucketPublicAccessBlockArgs(
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        ),
        opts=opts,
    )
    aws.s3.BucketOwnershipControls(
        f"{name}-ownership",
        aws.s3.BucketOwnershipControlsArgs(
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
        ),
        opts=opts,
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        aws.s3.BucketServerSideEncryptionConfigurationInitArgs(
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    ),
                    bucket_key_enabled=True,
                )
            ],
        ),
        opts=opts,
    )
    return bucket, access_block


def create_buckets(name: str, settings: Settings, parent: pulumi.Resource) -> Buckets:
    source, source_policy, _ = secure_bucket(f"{name}-source", parent)
    # Its policy (TLS-only deny and the distribution's read) is infra/delivery.py's.
    destination, destination_access_block = private_bucket(f"{name}-renditions", parent)
    backup, backup_policy, _ = secure_bucket(f"{name}-backup", parent)

    rules = [
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="abort-incomplete-uploads",
            status="Enabled",
            filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
            abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=7
            ),
        )
    ]
    backup_rule = aws.s3.BucketLifecycleConfigurationRuleArgs(
        id="age-out-backups",
        status="Enabled",
        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
        transitions=[
            aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                days=settings.backup_transition_days, storage_class="STANDARD_IA"
            )
        ]
        if settings.backup_transition_days
        else None,
        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
            days=settings.backup_expiration_days
        )
        if settings.backup_expiration_days
        else None,
    )
    backup_rules = list(rules)
    if settings.backup_transition_days or settings.backup_expiration_days:
        backup_rules.append(backup_rule)
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-backup-lifecycle",
        aws.s3.BucketLifecycleConfigurationArgs(bucket=backup.id, rules=backup_rules),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-source-lifecycle",
        aws.s3.BucketLifecycleConfigurationArgs(bucket=source.id, rules=rules),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return Buckets(
        source=source,
        destination=destination,
        backup=backup,
        policies=(source_policy, backup_policy),
        destination_access_block=destination_access_block,
    )
