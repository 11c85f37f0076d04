"""CloudWatch alarms: anything in the dead-letter queue, any failed execution."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.messaging import Messaging
from infra.workflow import Workflow


@dataclass(frozen=True)
class Alarms:
    dead_letters: aws.cloudwatch.MetricAlarm
    failed_executions: aws.cloudwatch.MetricAlarm


def create_alarms(
    name: str, messaging: Messaging, workflow: Workflow, parent: pulumi.Resource
) -> Alarms:
    opts = pulumi.ResourceOptions(parent=parent)
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
        opts=opts,
    )
    failed = aws.cloudwatch.MetricAlarm(
        f"{name}-failed-executions",
        aws.cloudwatch.MetricAlarmArgs(
            alarm_description=(
                "Executions failed (rejected uploads count too): see the dead-letter queue."
            ),
            namespace="AWS/States",
            metric_name="ExecutionsFailed",
            dimensions={"StateMachineArn": workflow.state_machine.arn},
            statistic="Sum",
            period=300,
            evaluation_periods=1,
            threshold=0,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=actions,
        ),
        opts=opts,
    )
    return Alarms(dead_letters=dead_letters, failed_executions=failed)
