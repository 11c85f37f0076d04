"""CloudWatch: log groups (CloudWatch Logs, where the provider files them) and alarms."""

from __future__ import annotations

from typing import Any, Final

from imagepipe.local.iam import service_allowed
from imagepipe.local.providers import base
from imagepipe.local.providers.base import Context, Handler, Inputs, Outputs, RefusedByAwsError


def _check_key(ctx: Context, key_arn: str, group_arn: str) -> None:
    """As CloudWatch Logs does when a log group is created with a KMS key: the key policy
    must let logs.<region>.amazonaws.com use the key for this log group.
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html"""
    policy = ctx.clients.client("kms").get_key_policy(KeyId=key_arn, PolicyName="default")
    context = {"kms:EncryptionContext:aws:logs:arn": group_arn, "aws:SourceAccount": ctx.account_id}
    service = f"logs.{ctx.region}.amazonaws.com"
    for action in ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"):
        if not service_allowed(policy["Policy"], service, action, key_arn, context).allowed:
            raise RefusedByAwsError(
                f"log group {group_arn}: the policy of KMS key {key_arn} does not let "
                f"{service} {action} for it (AccessDeniedException)"
            )


def _log_group(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    name = base.physical_name(logical, inputs)
    # The provider's arn has no ':*' suffix (DescribeLogGroups' has one).
    arn = f"arn:aws:logs:{ctx.region}:{ctx.account_id}:log-group:{name}"
    logs = ctx.clients.client("logs")
    params: dict[str, Any] = {"logGroupName": name}
    if inputs.get("kmsKeyId"):
        _check_key(ctx, inputs["kmsKeyId"], arn)
        params["kmsKeyId"] = inputs["kmsKeyId"]
    logs.create_log_group(**params)
    if inputs.get("retentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(inputs["retentionInDays"]))
    return name, {"arn": arn, "name": name}


def _alarm(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    name = base.physical_name(logical, inputs)
    ctx.clients.client("cloudwatch").put_metric_alarm(
        AlarmName=name,
        AlarmDescription=inputs.get("alarmDescription", ""),
        Namespace=inputs["namespace"],
        MetricName=inputs["metricName"],
        Dimensions=[
            {"Name": k, "Value": str(v)} for k, v in (inputs.get("dimensions") or {}).items()
        ],
        Statistic=inputs["statistic"],
        Period=int(inputs["period"]),
        EvaluationPeriods=int(inputs["evaluationPeriods"]),
        Threshold=float(inputs["threshold"]),
        ComparisonOperator=inputs["comparisonOperator"],
        AlarmActions=list(inputs.get("alarmActions") or []),
        OKActions=list(inputs.get("okActions") or []),
        **base.given(inputs, "treatMissingData"),
    )
    arn = f"arn:aws:cloudwatch:{ctx.region}:{ctx.account_id}:alarm:{name}"
    return name, {"arn": arn, "name": name}


RESOURCES: Final[dict[str, Handler]] = {
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
}
