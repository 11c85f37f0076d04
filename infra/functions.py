"""The Lambda functions (inspect, resize), their shared Pillow layer and log groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import iam
from infra.environment import environments
from infra.packaging import Artifact, build_function_archive, build_layer
from infra.settings import Settings
from infra.storage import Buckets


@dataclass(frozen=True)
class Functions:
    inspect: aws.lambda_.Function
    resize: aws.lambda_.Function
    layer: aws.lambda_.LayerVersion
    log_groups: tuple[aws.cloudwatch.LogGroup, ...]
    roles: tuple[aws.iam.Role, ...]


def create_functions(
    name: str,
    settings: Settings,
    buckets: Buckets,
    account_id: Any,
    parent: pulumi.Resource,
    *,
    code: Artifact | None = None,
    layer_zip: Artifact | None = None,
) -> Functions:
    opts = pulumi.ResourceOptions(parent=parent)
    code = code or build_function_archive()
    layer_zip = layer_zip or build_layer(settings.python_version, settings.lambda_architecture)

    layer = aws.lambda_.LayerVersion(
        f"{name}-pillow",
        aws.lambda_.LayerVersionArgs(
            layer_name=f"{name}-pillow",
            description="Pillow and Powertools for AWS Lambda, built for this runtime",
            code=pulumi.FileArchive(str(layer_zip.path)),
            source_code_hash=layer_zip.source_code_hash,
            compatible_runtimes=[settings.lambda_runtime],
            compatible_architectures=[settings.lambda_architecture],
        ),
        opts=opts,
    )

    def log_group(kind: str) -> aws.cloudwatch.LogGroup:
        return aws.cloudwatch.LogGroup(
            f"{name}-{kind}-logs",
            aws.cloudwatch.LogGroupArgs(
                name_prefix=f"/aws/lambda/{name}-{kind}-",
                retention_in_days=settings.log_retention_days,
            ),
            opts=opts,
        )

    inspect_logs = log_group("inspect")
    resize_logs = log_group("resize")
    inspect_role, inspect_policy = iam.role(
        f"{name}-inspect-role",
        service="lambda.amazonaws.com",
        policy=iam.inspect_policy(
            buckets.source.arn, settings.upload_prefix, buckets.destination.arn, inspect_logs.arn
        ),
        parent=parent,
        account_id=account_id,
    )
    resize_role, resize_policy = iam.role(
        f"{name}-resize-role",
        service="lambda.amazonaws.com",
        policy=iam.resize_policy(
            buckets.source.arn, settings.upload_prefix, buckets.destination.arn, resize_logs.arn
        ),
        parent=parent,
        account_id=account_id,
    )

    def function(
        kind: str,
        role: aws.iam.Role,
        policy: aws.iam.RolePolicy,
        logs: aws.cloudwatch.LogGroup,
        environment: dict[str, Any],
        description: str,
    ) -> aws.lambda_.Function:
        return aws.lambda_.Function(
            f"{name}-{kind}",
            aws.lambda_.FunctionArgs(
                description=description,
                runtime=settings.lambda_runtime,
                architectures=[settings.lambda_architecture],
                handler=f"imagefn.{kind}_handler.handler",
                code=pulumi.FileArchive(str(code.path)),
                source_code_hash=code.source_code_hash,
                role=role.arn,
                layers=[layer.arn],
                memory_size=settings.lambda_memory_mb,
                timeout=settings.lambda_timeout_seconds,
                environment=aws.lambda_.FunctionEnvironmentArgs(variables=environment),
                tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
                logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                    log_format="JSON", log_group=logs.name
                ),
            ),
            # Without its policy the first invocations could fail to log or read.
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[policy]),
        )

    # The same maps settings measured against Lambda's 4 KB limit.
    environment = environments(settings, buckets.destination.bucket)
    inspect = function(
        "inspect",
        inspect_role,
        inspect_policy,
        inspect_logs,
        environment["inspect"],
        "Sniffs an upload's real format, checks its limits and plans the renditions",
    )
    resize = function(
        "resize",
        resize_role,
        resize_policy,
        resize_logs,
        environment["resize"],
        "Makes one rendition of an upload and writes it to the renditions bucket",
    )
    return Functions(
        inspect=inspect,
        resize=resize,
        layer=layer,
        log_groups=(inspect_logs, resize_logs),
        roles=(inspect_role, resize_role),
    )
