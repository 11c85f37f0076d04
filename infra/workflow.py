"""Step Functions: the state machine (from statemachine/pipeline.asl.json) and the
EventBridge Pipe that starts one execution per upload."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

import pulumi
import pulumi_aws as aws

from infra import asl, iam
from infra.functions import Functions
from infra.messaging import Messaging
from infra.settings import Settings
from infra.storage import Buckets

# The pipe drops S3's s3:TestEvent (sent when the notification is saved): its body has an
# "Event" key, real notifications have "Records" and no "Event". A negative match is
# deliberate: anything else that reaches the queue still starts an execution, whose
# Inspect step rejects it into the dead-letter queue, so nothing vanishes silently.
# The local stack's poller applies this same pattern.
PIPE_FILTER_PATTERN: Final[dict[str, Any]] = {"body": {"Event": [{"exists": False}]}}


@dataclass(frozen=True)
class Workflow:
    state_machine: aws.sfn.StateMachine
    log_group: aws.cloudwatch.LogGroup
    pipe: aws.pipes.Pipe
    role: aws.iam.Role
    pipe_role: aws.iam.Role


def definition_values(
    *,
    inspect_arn: str,
    resize_arn: str,
    backup_bucket: str,
    topic_arn: str,
    dead_letter_queue_url: str,
    settings: Settings,
) -> dict[str, Any]:
    """The values for every placeholder of the definition file."""
    return {
        "InspectFunctionArn": inspect_arn,
        "ResizeFunctionArn": resize_arn,
        "BackupBucketName": backup_bucket,
        "TopicArn": topic_arn,
        "DeadLetterQueueUrl": dead_letter_queue_url,
        "MapMaxConcurrency": settings.map_max_concurrency,
    }


def create_workflow(
    name: str,
    settings: Settings,
    buckets: Buckets,
    messaging: Messaging,
    functions: Functions,
    account_id: Any,
    parent: pulumi.Resource,
) -> Workflow:
    opts = pulumi.ResourceOptions(parent=parent)
    log_group = aws.cloudwatch.LogGroup(
        f"{name}-workflow-logs",
        aws.cloudwatch.LogGroupArgs(
            # The vendedlogs prefix keeps CloudWatch's resource policy from growing per group.
            name_prefix=f"/aws/vendedlogs/states/{name}-",
            retention_in_days=settings.log_retention_days,
        ),
        opts=opts,
    )
    role, policy = iam.role(
        f"{name}-workflow-role",
        service="states.amazonaws.com",
        policy=iam.state_machine_policy(
            function_arns=[functions.inspect.arn, functions.resize.arn],
            source_bucket_arn=buckets.source.arn,
            upload_prefix=settings.upload_prefix,
            backup_bucket_arn=buckets.backup.arn,
            topic_arn=messaging.topic.arn,
            topic_key_arn=messaging.topic_key.arn,
            dead_letter_queue_arn=messaging.dead_letter_queue.arn,
        ),
        parent=parent,
        account_id=account_id,
    )
    definition = pulumi.Output.all(
        functions.inspect.arn,
        functions.resize.arn,
        buckets.backup.bucket,
        messaging.topic.arn,
        messaging.dead_letter_queue.url,
    ).apply(
        lambda v: asl.render_file(
            definition_values(
                inspect_arn=v[0],
                resize_arn=v[1],
                backup_bucket=v[2],
                topic_arn=v[3],
                dead_letter_queue_url=v[4],
                settings=settings,
            )
        )
    )
    state_machine = aws.sfn.StateMachine(
        f"{name}-workflow",
        aws.sfn.StateMachineArgs(
            type=settings.workflow_type,
            role_arn=role.arn,
            definition=definition,
            logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
                # Express executions have no history in the console: their log is all there is.
                level="ALL" if settings.workflow_type == "EXPRESS" else "ERROR",
                include_execution_data=True,
                log_destination=pulumi.Output.concat(log_group.arn, ":*"),
            ),
            tracing_configuration=aws.sfn.StateMachineTracingConfigurationArgs(enabled=True),
        ),
        # CreateStateMachine checks the role may deliver logs: the policy must exist first.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[policy]),
    )

    pipe_role, pipe_policy = iam.role(
        f"{name}-pipe-role",
        service="pipes.amazonaws.com",
        policy=iam.pipe_policy(messaging.ingest_queue.arn, state_machine.arn),
        parent=parent,
        account_id=account_id,
    )
    pipe = aws.pipes.Pipe(
        f"{name}-ingest-pipe",
        aws.pipes.PipeArgs(
            description="One S3 upload event, one state machine execution",
            role_arn=pipe_role.arn,
            source=messaging.ingest_queue.arn,
            source_parameters=aws.pipes.PipeSourceParametersArgs(
                sqs_queue_parameters=aws.pipes.PipeSourceParametersSqsQueueParametersArgs(
                    batch_size=1
                ),
                filter_criteria=aws.pipes.PipeSourceParametersFilterCriteriaArgs(
                    filters=[
                        aws.pipes.PipeSourceParametersFilterCriteriaFilterArgs(
                            pattern=json.dumps(PIPE_FILTER_PATTERN)
                        )
                    ]
                ),
            ),
            target=state_machine.arn,
            target_parameters=aws.pipes.PipeTargetParametersArgs(
                step_function_state_machine_parameters=aws.pipes.PipeTargetParametersStepFunctionStateMachineParametersArgs(
                    # Standard workflows only accept FIRE_AND_FORGET; the execution's own
                    # Catch handles failures from there on.
                    invocation_type="FIRE_AND_FORGET"
                )
            ),
        ),
        # The pipe validates it can read the queue when created.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[pipe_policy]),
    )
    return Workflow(
        state_machine=state_machine, log_group=log_group, pipe=pipe, role=role, pipe_role=pipe_role
    )
