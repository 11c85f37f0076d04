"""Least-privilege IAM: every policy is data, scoped to the ARNs it needs.

Each function below returns a policy document as a plain structure whose leaves may
be Pulumi Outputs; `Output.json_dumps` serializes it once they resolve. No statement
has a wildcard action. `Resource: "*"` appears only where AWS offers nothing narrower,
and each such place says so (see WILDCARD_RESOURCE_ACTIONS, which the tests hold it to).
"""

from __future__ import annotations

from typing import Any, Final

import pulumi
import pulumi_aws as aws

Statement = dict[str, Any]
Document = dict[str, Any]

# X-Ray trace upload and sampling have no resource-level permissions.
XRAY_UPLOAD_ACTIONS: Final = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
XRAY_ACTIONS: Final = (*XRAY_UPLOAD_ACTIONS, "xray:GetSamplingRules", "xray:GetSamplingTargets")
# Step Functions log delivery goes through CloudWatch Logs' vended-log APIs, which take
# no resource ARN (AWS's documented policy for state machine logging).
LOG_DELIVERY_ACTIONS: Final = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
# Actions that AWS only authorizes on Resource "*".
WILDCARD_RESOURCE_ACTIONS: Final = frozenset(XRAY_ACTIONS + LOG_DELIVERY_ACTIONS)


def document(*statements: Statement) -> Document:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def account_administers_key(account_id: Any) -> Statement:
    """A KMS key policy's first statement: the account administers the key, so IAM
    policies decide who uses it. In a key policy "Resource": "*" means this key only."""
    return {
        "Sid": "AccountAdministersKey",
        "Effect": "Allow",
        "Principal": {"AWS": pulumi.Output.concat("arn:aws:iam::", account_id, ":root")},
        "Action": "kms:*",
        "Resource": "*",
    }


def allow(sid: str, actions: list[str], resources: list[Any]) -> Statement:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


def assume_role_policy(
    service: str, source_account: Any = None, source_arn: Any = None
) -> Document:
    """Trust policy for one AWS service, pinned to our account (confused-deputy guard)."""
    statement: Statement = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    conditions: dict[str, Any] = {}
    if source_account is not None:
        conditions["StringEquals"] = {"aws:SourceAccount": source_account}
    if source_arn is not None:
        conditions["ArnLike"] = {"aws:SourceArn": source_arn}
    if conditions:
        statement["Condition"] = conditions
    return document(statement)


def objects(bucket_arn: Any, prefix: str = "") -> Any:
    """The object ARN pattern for a bucket (optionally under a key prefix)."""
    return pulumi.Output.concat(bucket_arn, "/", prefix, "*")


def _tracing() -> Statement:
    return allow(
        "XRayTraces",  # X-Ray has no resource-level permissions: "*" is required.
        list(XRAY_UPLOAD_ACTIONS),
        ["*"],
    )


def _function_logs(log_group_arn: Any) -> Statement:
    return allow(
        "WriteOwnLogs",
        ["logs:CreateLogStream", "logs:PutLogEvents"],
        [pulumi.Output.concat(log_group_arn, ":*")],
    )


def inspect_policy(
    source_bucket_arn: Any, upload_prefix: str, destination_bucket_arn: Any, log_group_arn: Any
) -> Document:
    """Inspect reads uploads (HEAD and GET both need s3:GetObject), and HEADs renditions
    to tell a backfill which already exist. It writes nothing.

    HEAD of a missing key answers 404 only to a caller that may list the bucket, 403
    otherwise, and a 403 is not "not made yet": hence s3:ListBucket on the renditions
    bucket (the bucket ARN, unconditioned: a HEAD carries no s3:prefix to test).
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html#API_HeadObject_RequestSyntax
    """
    return document(
        allow("ReadUploads", ["s3:GetObject"], [objects(source_bucket_arn, upload_prefix)]),
        allow("CheckRenditions", ["s3:GetObject"], [objects(destination_bucket_arn)]),
        allow("TellMissingRenditions", ["s3:ListBucket"], [destination_bucket_arn]),
        _function_logs(log_group_arn),
        _tracing(),
    )


def resize_policy(
    source_bucket_arn: Any, upload_prefix: str, destination_bucket_arn: Any, log_group_arn: Any
) -> Document:
    """Resize reads uploads and writes renditions (deleting a rendition an overwrite in
    another format made stale); it cannot write the source bucket."""
    return document(
        allow("ReadUploads", ["s3:GetObject"], [objects(source_bucket_arn, upload_prefix)]),
        allow(
            "WriteRenditions",
            ["s3:PutObject", "s3:DeleteObject"],
            [objects(destination_bucket_arn)],
        ),
        _function_logs(log_group_arn),
        _tracing(),
    )


def upload_policy(source_bucket_arn: Any, upload_prefix: str, log_group_arn: Any) -> Document:
    """The upload API's function signs presigned POSTs: S3 accepts one only while the
    signer may s3:PutObject its key, so the role may put objects under the upload prefix
    (the caller's <prefix><sub>/ is pinned by each POST's policy) and do nothing else on
    S3: no read, no delete, no other bucket. The source bucket is encrypted with SSE-S3,
    which needs no KMS permission.
    https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-authentication-HTTPPOST.html"""
    return document(
        allow("PresignUploads", ["s3:PutObject"], [objects(source_bucket_arn, upload_prefix)]),
        _function_logs(log_group_arn),
        _tracing(),
    )


def catalogue_writes(
    table_arn: Any, actions: tuple[str, ...] = ("dynamodb:PutItem", "dynamodb:UpdateItem")
) -> Statement:
    """The workflow's catalogue writes, on the table only (Step Functions' DynamoDB
    integration calls these APIs as the state machine's role).
    https://docs.aws.amazon.com/step-functions/latest/dg/connect-ddb.html"""
    return allow("RecordUploads", list(actions), [table_arn])


def manifest_policy(
    destination_bucket_arn: Any, rendition_names: list[str], log_group_arn: Any
) -> Document:
    """The manifest function reads renditions (the smallest, for its placeholder) and
    reads and writes manifests/*, nothing else. s3:ListBucket makes a first manifest's
    GET answer 404 rather than 403 (see inspect_policy)."""
    return document(
        allow(
            "ReadRenditions",
            ["s3:GetObject"],
            [objects(destination_bucket_arn, f"{n}/") for n in rendition_names],
        ),
        allow(
            "ReadWriteManifests",
            ["s3:GetObject", "s3:PutObject"],
            [objects(destination_bucket_arn, "manifests/")],
        ),
        allow("TellFirstManifest", ["s3:ListBucket"], [destination_bucket_arn]),
        _function_logs(log_group_arn),
        _tracing(),
    )


def invalidate_cdn(distribution_arn: Any) -> Statement:
    """The state machine invalidates its own distribution's paths (and no other's)."""
    return allow("InvalidateStaleRenditions", ["cloudfront:CreateInvalidation"], [distribution_arn])


def state_machine_policy(
    *,
    catalogue_table_arn: Any,
    catalogue_index_arn: Any,
    function_arns: list[Any],
    source_bucket_arn: Any,
    upload_prefix: str,
    backup_bucket_arn: Any,
    topic_arn: Any,
    topic_key_arn: Any,
    dead_letter_queue_arn: Any,
    distribution_arn: Any = None,
) -> Document:
    """The workflow invokes its functions, records uploads in the catalogue (and looks
    up identical bytes on its content-hash index: a Query on an index is authorized on the
    index's ARN), copies uploads to backup, invalidates its own CDN's stale paths,
    publishes, dead-letters."""
    invokable = [a for arn in function_arns for a in (arn, pulumi.Output.concat(arn, ":*"))]
    return document(
        allow("InvokeOwnFunctions", ["lambda:InvokeFunction"], invokable),
        catalogue_writes(catalogue_table_arn),
        allow("FindSameBytes", ["dynamodb:Query"], [catalogue_index_arn]),
        *_backup_copy(source_bucket_arn, upload_prefix, backup_bucket_arn),
        allow("PublishNotifications", ["sns:Publish"], [topic_arn]),
        # The topic is encrypted with our key: publishing needs a data key from it.
        allow("EncryptNotifications", ["kms:GenerateDataKey", "kms:Decrypt"], [topic_key_arn]),
        allow("DeadLetter", ["sqs:SendMessage"], [dead_letter_queue_arn]),
        *([invalidate_cdn(distribution_arn)] if distribution_arn is not None else []),
        *_workflow_logs_and_traces(),
    )


def _backup_copy(
    source_bucket_arn: Any, upload_prefix: str, backup_bucket_arn: Any
) -> list[Statement]:
    """CopyObject reads the upload and writes the copy; it copies the object's tags too,
    which needs the tagging actions on both sides."""
    return [
        allow(
            "ReadUploadsForBackup",
            ["s3:GetObject", "s3:GetObjectTagging"],
            [objects(source_bucket_arn, upload_prefix)],
        ),
        allow(
            "WriteBackups", ["s3:PutObject", "s3:PutObjectTagging"], [objects(backup_bucket_arn)]
        ),
    ]


def _workflow_logs_and_traces() -> list[Statement]:
    return [
        # Vended-log delivery APIs take no resource ARN: "*" is required.
        allow("DeliverExecutionLogs", list(LOG_DELIVERY_ACTIONS), ["*"]),
        # X-Ray has no resource-level permissions: "*" is required.
        allow("XRayTraces", list(XRAY_ACTIONS), ["*"]),
    ]


def backfill_policy(
    *,
    state_machine_arn: Any,
    execution_arns: list[Any],
    function_arns: list[Any],
    source_bucket_arn: Any,
    upload_prefix: str,
    backup_bucket_arn: Any,
    results_prefixes: list[str],
    dead_letter_queue_arn: Any,
    catalogue_table_arn: Any,
    distribution_arn: Any = None,
) -> Document:
    """The backfill lists uploads, runs its own child executions (Distributed Map), and
    then does per object what the upload workflow does, minus the notification (renditions,
    manifest, invalidating its own CDN's stale paths). It keeps the catalogue as the upload
    workflow does: it reads each key's record (GetItem: to skip a version rejected before)
    and records each outcome, processed, rejected or failed (UpdateItem, which also
    creates a record where there is none: no PutItem). Nothing else on the table."""
    invokable = [a for arn in function_arns for a in (arn, pulumi.Output.concat(arn, ":*"))]
    return document(
        allow(
            "ListUploads",
            ["s3:ListBucket"],
            [source_bucket_arn],
        )
        | {"Condition": {"StringLike": {"s3:prefix": [f"{upload_prefix}*"]}}},
        allow("RunChildExecutions", ["states:StartExecution"], [state_machine_arn]),
        allow(
            "ManageChildExecutions",
            ["states:DescribeExecution", "states:StopExecution"],
            execution_arns,
        ),
        allow("InvokeOwnFunctions", ["lambda:InvokeFunction"], invokable),
        *_backup_copy(source_bucket_arn, upload_prefix, backup_bucket_arn),
        # The ResultWriter writes the run's results as multipart uploads and reads them
        # back: these four actions, on its prefix only.
        # https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html
        allow(
            "WriteRunResults",
            [
                "s3:PutObject",
                "s3:GetObject",
                "s3:ListMultipartUploadParts",
                "s3:AbortMultipartUpload",
            ],
            [objects(backup_bucket_arn, f"{prefix.rstrip('/')}/") for prefix in results_prefixes],
        ),
        allow("ReadRecords", ["dynamodb:GetItem"], [catalogue_table_arn]),
        allow("RecordBackfills", ["dynamodb:UpdateItem"], [catalogue_table_arn]),
        allow("DeadLetter", ["sqs:SendMessage"], [dead_letter_queue_arn]),
        *([invalidate_cdn(distribution_arn)] if distribution_arn is not None else []),
        *_workflow_logs_and_traces(),
    )


def own_execution_arns(
    region: Any, account_id: Any, machine_name: str, child_execution_types: list[str]
) -> list[Any]:
    """The executions a Distributed Map's parent describes and stops: its own, and the
    children its map runs start, whose ARNs carry the map run's label and, for Express
    children, their own resource type ("labelled execution" and "labelled express" in
    the Service Authorization Reference; the parent form is the Distributed Map IAM
    example's). The ':' and '/' keep a longer name with this prefix out.
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html
    https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html
    """
    states = pulumi.Output.concat("arn:aws:states:", region, ":", account_id, ":")
    arns = [pulumi.Output.concat(states, "execution:", machine_name, ":*")]
    for child_type in child_execution_types:
        kind = "express" if child_type == "EXPRESS" else "execution"
        arns.append(pulumi.Output.concat(states, kind, ":", machine_name, "/*"))
    return arns


def removal_policy(
    *,
    inspect_function_arn: Any,
    destination_bucket_arn: Any,
    backup_bucket_arn: Any,
    topic_arn: Any,
    topic_key_arn: Any,
    dead_letter_queue_arn: Any,
    catalogue_table_arn: Any,
    distribution_arn: Any = None,
) -> Document:
    """Following a deleted original: delete its renditions and backup, invalidate what
    its own CDN served of them, record it as deleted in the catalogue (an UpdateItem on
    the table only), notify, dead-letter."""
    return document(
        allow(
            "InvokeInspect",
            ["lambda:InvokeFunction"],
            [inspect_function_arn, pulumi.Output.concat(inspect_function_arn, ":*")],
        ),
        allow(
            "DeleteDerivatives",
            ["s3:DeleteObject"],
            [objects(destination_bucket_arn), objects(backup_bucket_arn)],
        ),
        allow("RecordDeletions", ["dynamodb:UpdateItem"], [catalogue_table_arn]),
        allow("PublishNotifications", ["sns:Publish"], [topic_arn]),
        allow("EncryptNotifications", ["kms:GenerateDataKey", "kms:Decrypt"], [topic_key_arn]),
        allow("DeadLetter", ["sqs:SendMessage"], [dead_letter_queue_arn]),
        *([invalidate_cdn(distribution_arn)] if distribution_arn is not None else []),
        *_workflow_logs_and_traces(),
    )


def pipe_source_policy(queue_arn: Any) -> Document:
    """The pipe consumes its queue: what CreatePipe checks before the pipe can run."""
    return document(
        allow(
            "ConsumeIngestQueue",
            ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            [queue_arn],
        )
    )


def pipe_target_policy(state_machine_arn: Any) -> Document:
    """The pipe starts executions of one state machine (checked at each invocation)."""
    return document(allow("StartExecutions", ["states:StartExecution"], [state_machine_arn]))


def role(
    name: str,
    *,
    service: str,
    policy: Document,
    parent: pulumi.Resource,
    account_id: Any,
    source_arn: Any = None,
) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
    """A role for one service principal with its inline policy (`inline_policy` adds more).

    The policy is returned too: whatever validates its permissions at creation time
    (a state machine's log delivery, a pipe's source) must depend on it, not only the role.
    """
    created = aws.iam.Role(
        name,
        aws.iam.RoleArgs(
            assume_role_policy=pulumi.Output.json_dumps(
                assume_role_policy(service, source_account=account_id, source_arn=source_arn)
            ),
            description=f"{name}: least-privilege role for {service}",
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return created, inline_policy(f"{name}-policy", created, policy, parent)


def inline_policy(
    name: str, role: aws.iam.Role, policy: Document, parent: pulumi.Resource
) -> aws.iam.RolePolicy:
    """One more inline policy on `role`, created as soon as its ARNs are known."""
    return aws.iam.RolePolicy(
        name,
        aws.iam.RolePolicyArgs(role=role.id, policy=pulumi.Output.json_dumps(policy)),
        opts=pulumi.ResourceOptions(parent=parent),
    )
