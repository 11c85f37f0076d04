"""CloudWatch: log groups (CloudWatch Logs, where the provider files them) and alarms."""

from __future__ import annotations

from typing import Any, Final

from imagepipe.local.providers.base import Context, Handler, Inputs, Outputs, physical_name


def _log_group(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    name = physical_name(logical, inputs)
    logs = ctx.clients.client("logs")
    logs.create_log_group(logGroupName=name)
    if inputs.get("retentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(inputs["retentionInDays"]))
    # The provider's arn has no ':*' suffix (DescribeLogGroups' has one).
    arn = f"arn:aws:logs:{ctx.region}:{ctx.account_id}:log-group:{name}"
    return name, {"arn": arn, "name": name}


def _alarm(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    name = physical_name(logical, inputs)
    params: dict[str, Any] = {
        "AlarmName": name,
        "AlarmDescription": inputs.get("alarmDescription", ""),
        "Namespace": inputs["namespace"],
        "MetricName": inputs["metricName"],
        "Dimensions": [
            {"Name": k, "Value": str(v)} for k, v in (inputs.get("dimensions") or {}).items()
        ],
        "Statistic": inputs["statistic"],
        "Period": int(inputs["period"]),
        "EvaluationPeriods": int(inputs["evaluationPeriods"]),
        "Threshold": float(inputs["threshold"]),
        "ComparisonOperator": inputs["comparisonOperator"],
        "AlarmActions": list(inputs.get("alarmActions") or []),
        "OKActions": list(inputs.get("okActions") or []),
    }
    if inputs.get("treatMissingData"):
        params["TreatMissingData"] = inputs["treatMissingData"]
    ctx.clients.client("cloudwatch").put_metric_alarm(**params)
    arn = f"arn:aws:cloudwatch:{ctx.region}:{ctx.account_id}:alarm:{name}"
    return name, {"arn": arn, "name": name}


RESOURCES: Final[dict[str, Handler]] = {
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
}
