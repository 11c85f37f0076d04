"""The Lambda functions (inspect, resize), their shared Pillow layer and log groups."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import iam
from infra.environment import environments
from infra.packaging import Artifact, build_function_archive, build_layer, verify_layer_archive
from infra.settings import Settings
from infra.storage import Buckets


@dataclass(frozen=True)
class Functions:
    inspect: aws.lambda_.Function
    resize: aws.lambda_.Function
    manifest: aws.lambda_.Function
    layer: aws.lambda_.LayerVersion
    log_groups: tuple[aws.cloudwatch.LogGroup, ...]
    roles: tuple[aws.iam.Role, ...]
    # Makes more functions with the same code, layer and configuration (the upload API's).
    maker: FunctionMaker


def create_functions(
    name: str,
    settings: Settings,
    buckets: Buckets,
    account_id: Any,
    parent: pulumi.Resource,
    *,
    code: Artifact | None = None,
    layer_zip: Artifact | None = None,
    base_url: Any = "",
) -> Functions:
    code = code or build_function_archive()
    if layer_zip is None:
        layer_zip = build_layer(settings.python_version, settings.lambda_architecture)
    else:  # built elsewhere: its libraries must load on the runtime's OS all the same
        verify_layer_archive(layer_zip, settings.python_version, settings.lambda_architecture)
    layer = _layer(name, settings, layer_zip, parent)
    # The same maps settings measured against Lambda's 4 KB limit.
    environment = environments(settings, buckets.destination.bucket, base_url or "")
    made = FunctionMaker(name, settings, buckets, account_id, code, layer, parent)
    inspect, inspect_logs, inspect_role = made.function(
        "inspect",
        iam.inspect_policy,
        environment["inspect"],
        "Sniffs an upload's real format, checks its limits and plans the renditions",
    )
    resize, resize_logs, resize_role = made.function(
        "resize",
        iam.resize_policy,
        environment["resize"],
        "Makes one rendition of an upload and writes it to the renditions bucket",
    )
    names = [r.name for r in settings.renditions]
    manifest, manifest_logs, manifest_role = made.function(
        "manifest",
        lambda _s, _p, destination, logs: iam.manifest_policy(destination, names, logs),
        environment["manifest"],
        "Writes an image's manifest next to its renditions and lists what the CDN holds stale",
    )
    return Functions(
        inspect=inspect,
        resize=resize,
        manifest=manifest,
        layer=layer,
        log_groups=(inspect_logs, resize_logs, manifest_logs),
        roles=(inspect_role, resize_role, manifest_role),
        maker=made,
    )


def _layer(
    name: str, settings: Settings, layer_zip: Artifact, parent: pulumi.Resource
) -> aws.lambda_.LayerVersion:
    return aws.lambda_.LayerVersion(
        f"{name}-pillow",
        aws.lambda_.LayerVersionArgs(
            layer_name=f"{name}-pillow",
            description="Pillow and Powertools for AWS Lambda, built for this runtime",
            code=pulumi.FileArchive(str(layer_zip.path)),
            source_code_hash=layer_zip.source_code_hash,
            compatible_runtimes=[settings.lambda_runtime],
            compatible_architectures=[settings.lambda_architecture],
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


# (source bucket ARN, upload prefix, destination bucket ARN, log group ARN) -> policy
RolePolicy = Callable[[Any, str, Any, Any], iam.Document]


@dataclass(frozen=True)
class FunctionMaker:
    """What every function of the stack shares: its code, layer and configuration."""

    name: str
    settings: Settings
    buckets: Buckets
    account_id: Any
    code: Artifact
    layer: aws.lambda_.LayerVersion
    parent: pulumi.Resource

    def function(
        self,
        kind: str,
        policy: RolePolicy,
        environment: dict[str, Any],
        description: str,
        *,
        memory_mb: int | None = None,
        timeout_seconds: int | None = None,
    ) -> tuple[aws.lambda_.Function, aws.cloudwatch.LogGroup, aws.iam.Role]:
        """A function with its own log group and least-privilege role (memory and timeout
        from settings unless given: the imaging functions need them, others less)."""
        name, settings = self.name, self.settings
        logs = aws.cloudwatch.LogGroup(
            f"{name}-{kind}-logs",
            aws.cloudwatch.LogGroupArgs(
                name_prefix=f"/aws/lambda/{name}-{kind}-",
                retention_in_days=settings.log_retention_days,
            ),
            opts=pulumi.ResourceOptions(parent=self.parent),
        )
        role, role_policy = iam.role(
            f"{name}-{kind}-role",
            service="lambda.amazonaws.com",
            policy=policy(
                self.buckets.source.arn,
                settings.upload_prefix,
                self.buckets.destination.arn,
                logs.arn,
            ),
            parent=self.parent,
            account_id=self.account_id,
        )
        function = aws.lambda_.Function(
            f"{name}-{kind}",
            aws.lambda_.FunctionArgs(
                description=description,
                runtime=settings.lambda_runtime,
                architectures=[settings.lambda_architecture],
                handler=f"imagefn.{kind}_handler.handler",
                code=pulumi.FileArchive(str(self.code.path)),
                source_code_hash=self.code.source_code_hash,
                role=role.arn,
                layers=[self.layer.arn],
                memory_size=memory_mb or settings.lambda_memory_mb,
                timeout=timeout_seconds or settings.lambda_timeout_seconds,
                environment=aws.lambda_.FunctionEnvironmentArgs(variables=environment),
                tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
                logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                    log_format="JSON", log_group=logs.name
                ),
            ),
            # Without its policy the first invocations could fail to log or read.
            opts=pulumi.ResourceOptions(parent=self.parent, depends_on=[role_policy]),
        )
        return function, logs, role
