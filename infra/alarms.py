"""CloudWatch alarms: anything in the dead-letter queue, and every way an execution of any
of the stack's state machines can end badly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_aws as aws

from infra.messaging import Messaging
from infra.workflow import Workflow

# (metric, alarm name part, what it means for someone paged by it). An execution that
# times out or is stopped ran no Catch, so no dead letter says which upload it was.
# https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html
EXECUTION_METRICS: Final = (
    (
        "ExecutionsFailed",
        "failed",
        "Executions failed after their retries (a rejected upload is no failure): see the "
        "dead-letter queue.",
    ),
    (
        "ExecutionsTimedOut",
        "timed-out",
        "Executions timed out: no Catch ran and nothing was dead-lettered; find them in the "
        "executions list and run their uploads again.",
    ),
    (
        "ExecutionsAborted",
        "aborted",
        "Executions were stopped before they ended: nothing was dead-lettered for them.",
    ),
    (
        "ExecutionThrottled",
        "throttled",
        "State transitions were throttled: executions are slowed (and Express ones may run "
        "out of time); see the account's Step Functions quotas.",
    ),
)


@dataclass(frozen=True)
class Alarms:
    dead_letters: aws.cloudwatch.MetricAlarm
    # (state machine kind, metric) -> its alarm
    executions: dict[tuple[str, str], aws.cloudwatch.MetricAlarm]


def create_alarms(
    name: str, messaging: Messaging, workflow: Workflow, parent: pulumi.Resource
) -> Alarms:
    actions = [messaging.alarm_topic.arn]
    dead_letters = aws.cloudwatch.MetricAlarm(
        f"{name}-dead-letters",
        aws.cloudwatch.MetricAlarmArgs(
            alarm_description=(
                "Uploads ended in the dead-letter queue: its messages give the reason."
            ),
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": messaging.dead_letter_queue.name},
            statistic="Maximum",
            period=60,
            evaluation_periods=1,
            threshold=0,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=actions,
            ok_actions=actions,
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    machines = {"workflow": workflow.state_machine, "backfill": workflow.backfill}
    if workflow.removal is not None:
        machines["removal"] = workflow.removal
    executions = {
        (kind, metric): _execution_alarm(name, kind, machine, metric, part, text, actions, parent)
        for kind, machine in machines.items()
        for metric, part, text in EXECUTION_METRICS
    }
    return Alarms(dead_letters=dead_letters, executions=executions)


def _execution_alarm(
    name: str,
    kind: str,
    machine: aws.sfn.StateMachine,
    metric: str,
    part: str,
    description: str,
    actions: list[pulumi.Output[str]],
    parent: pulumi.Resource,
) -> aws.cloudwatch.MetricAlarm:
    """Any one execution of `machine` counted by `metric` in five minutes."""
    # The upload workflow's failure alarm had this name before; keep the same alarm.
    renamed = (kind, part) == ("workflow", "failed")
    aliases = [pulumi.Alias(name=f"{name}-failed-executions")] if renamed else []
    return aws.cloudwatch.MetricAlarm(
        f"{name}-{kind}-{part}",
        aws.cloudwatch.MetricAlarmArgs(
            alarm_description=f"{kind}: {description}",
            namespace="AWS/States",
            metric_name=metric,
            dimensions={"StateMachineArn": machine.arn},
            statistic="Sum",
            period=300,
            evaluation_periods=1,
            threshold=0,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=actions,
        ),
        opts=pulumi.ResourceOptions(parent=parent, aliases=aliases),
    )
