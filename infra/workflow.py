"""Step Functions: the upload workflow (statemachine/pipeline.asl.json) and the
EventBridge Pipe that starts one execution per upload; the backfill workflow
(statemachine/backfill.asl.json); and, with deleteDerivatives, the removal workflow
(statemachine/removal.asl.json) with its own pipe."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pulumi
import pulumi_aws as aws

from infra import asl, durations, iam
from infra.catalogue import CONTENT_HASH_INDEX, Catalogue, create_catalogue
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
    backfill: aws.sfn.StateMachine
    # Only with deleteDerivatives.
    removal: aws.sfn.StateMachine | None
    # The record of every upload, which the workflows write (infra/catalogue.py).
    catalogue: Catalogue


def _rendered(path: Path, outputs: Mapping[str, Any], constants: Mapping[str, Any]) -> Any:
    """The definition file at `path` with Output values and constants filled in."""
    names = list(outputs)

    def fill(values: list[Any]) -> str:
        return asl.render_file({**dict(zip(names, values, strict=True)), **constants}, path)

    return pulumi.Output.all(*outputs.values()).apply(fill)


def _state_machine(
    name: str,
    kind: str,
    *,
    settings: Settings,
    workflow_type: str,
    definition: Any,
    policy: iam.Document,
    account_id: Any,
    parent: pulumi.Resource,
    explicit_name: str | None = None,
) -> tuple[aws.sfn.StateMachine, aws.cloudwatch.LogGroup, aws.iam.Role]:
    opts = pulumi.ResourceOptions(parent=parent)
    log_group = aws.cloudwatch.LogGroup(
        f"{name}-{kind}-logs",
        aws.cloudwatch.LogGroupArgs(
            # The vendedlogs prefix keeps CloudWatch's resource policy from growing per group.
            name_prefix=f"/aws/vendedlogs/states/{name}-{kind}-",
            retention_in_days=settings.log_retention_days,
        ),
        opts=opts,
    )
    role, attached = iam.role(
        f"{name}-{kind}-role",
        service="states.amazonaws.com",
        policy=policy,
        parent=parent,
        account_id=account_id,
    )
    machine = aws.sfn.StateMachine(
        f"{name}-{kind}",
        aws.sfn.StateMachineArgs(
            name=explicit_name,
            type=workflow_type,
            role_arn=role.arn,
            definition=definition,
            logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
                # ERROR by default: every failure with its input, no per-state trail of
                # successes (at ALL it is a third of an Express execution's cost).
                level=settings.workflow_log_level,
                include_execution_data=True,
                log_destination=pulumi.Output.concat(log_group.arn, ":*"),
            ),
            tracing_configuration=aws.sfn.StateMachineTracingConfigurationArgs(enabled=True),
        ),
        # CreateStateMachine checks the role may deliver logs: the policy must exist first.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[attached]),
    )
    return machine, log_group, role


def _pipe(
    name: str,
    kind: str,
    *,
    queue: aws.sqs.Queue,
    state_machine: aws.sfn.StateMachine,
    description: str,
    account_id: Any,
    parent: pulumi.Resource,
) -> tuple[aws.pipes.Pipe, aws.iam.Role]:
    # CreatePipe checks that the role may read the source queue, and the pipe ends
    # CREATE_FAILED if IAM has not propagated that yet; the provider gives up then (it
    # waits for RUNNING, it does not retry). So the queue statements depend only on the
    # role and the queue and exist from the first seconds of a deploy, while the pipe
    # waits for its state machine, which waits for the layer upload and the functions:
    # the slowest part of the deploy lies between them. StartExecution is checked only
    # when the pipe invokes; should it lag, SQS hands the message out again.
    role_name = f"{name}-{kind}-pipe-role" if kind else f"{name}-pipe-role"
    role, source_policy = iam.role(
        role_name,
        service="pipes.amazonaws.com",
        policy=iam.pipe_source_policy(queue.arn),
        parent=parent,
        account_id=account_id,
    )
    target_policy = iam.inline_policy(
        f"{role_name}-target-policy", role, iam.pipe_target_policy(state_machine.arn), parent
    )
    pipe = aws.pipes.Pipe(
        f"{name}-{kind or 'ingest'}-pipe",
        aws.pipes.PipeArgs(
            description=description,
            role_arn=role.arn,
            source=queue.arn,
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
        opts=pulumi.ResourceOptions(
            parent=parent, depends_on=[source_policy, target_policy, state_machine]
        ),
    )
    return pipe, role


def create_workflow(
    name: str,
    settings: Settings,
    buckets: Buckets,
    messaging: Messaging,
    functions: Functions,
    account_id: Any,
    region: Any,
    parent: pulumi.Resource,
    distribution: aws.cloudfront.Distribution | None = None,
) -> Workflow:
    catalogue = create_catalogue(name, parent)
    stack = _Wiring(
        name, settings, buckets, messaging, functions, account_id, region, parent, catalogue,
        distribution,
    )  # fmt: skip
    state_machine, log_group, role = _upload_workflow(stack)
    pipe, pipe_role = _pipe(
        name,
        "",
        queue=messaging.ingest_queue,
        state_machine=state_machine,
        description="One S3 upload event, one state machine execution",
        account_id=account_id,
        parent=parent,
    )
    return Workflow(
        state_machine=state_machine,
        log_group=log_group,
        pipe=pipe,
        role=role,
        pipe_role=pipe_role,
        backfill=_backfill_workflow(stack),
        removal=_removal_workflow(stack),
        catalogue=catalogue,
    )


@dataclass(frozen=True)
class _Wiring:
    """What the stack's workflows are wired to."""

    name: str
    settings: Settings
    buckets: Buckets
    messaging: Messaging
    functions: Functions
    account_id: Any
    region: Any
    parent: pulumi.Resource
    catalogue: Catalogue
    # The CDN whose stale paths the workflows invalidate (None with `cdn: false`).
    distribution: aws.cloudfront.Distribution | None = None

    def machine(
        self, kind: str, **kwargs: Any
    ) -> tuple[aws.sfn.StateMachine, aws.cloudwatch.LogGroup, aws.iam.Role]:
        """_state_machine with what every workflow of this stack shares already given."""
        return _state_machine(
            self.name,
            kind,
            settings=self.settings,
            account_id=self.account_id,
            parent=self.parent,
            **kwargs,
        )

    def common_values(self) -> dict[str, Any]:
        """Placeholder values every definition file takes."""
        return {
            "InspectFunctionArn": self.functions.inspect.arn,
            "BackupBucketName": self.buckets.backup.bucket,
            "DeadLetterQueueUrl": self.messaging.dead_letter_queue.url,
        }


def _upload_workflow(
    stack: _Wiring,
) -> tuple[aws.sfn.StateMachine, aws.cloudwatch.LogGroup, aws.iam.Role]:
    """Uploads: one execution per S3 ObjectCreated event."""
    settings, functions, messaging = stack.settings, stack.functions, stack.messaging
    return stack.machine(
        "workflow",
        workflow_type=settings.workflow_type,
        definition=_rendered(
            asl.DEFINITION_FILE,
            {
                **stack.common_values(),
                "ResizeFunctionArn": functions.resize.arn,
                "TopicArn": messaging.topic.arn,
                "CatalogueTableName": stack.catalogue.table.name,
                "DestinationBucketName": stack.buckets.destination.bucket,
                "ManifestFunctionArn": functions.manifest.arn,
                **_cdn(stack.distribution),
            },
            {
                "MapMaxConcurrency": settings.map_max_concurrency,
                "ContentHashIndexName": CONTENT_HASH_INDEX,
            },
        ),
        policy=iam.state_machine_policy(
            catalogue_table_arn=stack.catalogue.table.arn,
            catalogue_index_arn=stack.catalogue.index_arn,
            function_arns=[functions.inspect.arn, functions.resize.arn, functions.manifest.arn],
            source_bucket_arn=stack.buckets.source.arn,
            upload_prefix=settings.upload_prefix,
            backup_bucket_arn=stack.buckets.backup.arn,
            topic_arn=messaging.topic.arn,
            topic_key_arn=messaging.topic_key.arn,
            dead_letter_queue_arn=messaging.dead_letter_queue.arn,
            distribution_arn=stack.distribution.arn if stack.distribution else None,
        ),
    )


def _cdn(distribution: aws.cloudfront.Distribution | None) -> dict[str, Any]:
    """The DistributionId placeholder: without a CDN neither the manifest function nor
    Inspect's removal mode asks for an invalidation, so the states that would use it are
    never entered."""
    return {"DistributionId": distribution.id if distribution else pulumi.Output.from_input("")}


def _backfill_workflow(stack: _Wiring) -> aws.sfn.StateMachine:
    """Backfill: a Distributed Map over the source listing. Its name is fixed (derived from
    the stack) because its role must name it to run its own child executions."""
    settings, functions, buckets = stack.settings, stack.functions, stack.buckets
    backfill_name = f"{stack.name}-backfill"
    backfill_arn = pulumi.Output.concat(
        "arn:aws:states:", stack.region, ":", stack.account_id, ":stateMachine:", backfill_name
    )
    # Its children run as Express only when their worst case fits in 5 minutes.
    child_type = durations.child_execution_type(asl.BACKFILL_FILE, settings.workload)
    backfill, _, _ = stack.machine(
        "backfill",
        workflow_type="STANDARD",  # a Distributed Map needs a Standard parent
        explicit_name=backfill_name,
        definition=_rendered(
            asl.BACKFILL_FILE,
            {
                **stack.common_values(),
                "ResizeFunctionArn": functions.resize.arn,
                "ManifestFunctionArn": functions.manifest.arn,
                "SourceBucketName": buckets.source.bucket,
                "CatalogueTableName": stack.catalogue.table.name,
                **_cdn(stack.distribution),
            },
            {
                "MapMaxConcurrency": settings.map_max_concurrency,
                "BackfillMaxConcurrency": settings.backfill_max_concurrency,
                "ChildExecutionType": child_type,
            },
        ),
        policy=iam.backfill_policy(
            state_machine_arn=backfill_arn,
            execution_arns=iam.own_execution_arns(
                stack.region, stack.account_id, backfill_name, [child_type]
            ),
            function_arns=[functions.inspect.arn, functions.resize.arn, functions.manifest.arn],
            source_bucket_arn=buckets.source.arn,
            upload_prefix=settings.upload_prefix,
            backup_bucket_arn=buckets.backup.arn,
            results_prefixes=asl.result_writer_prefixes(asl.BACKFILL_FILE),
            dead_letter_queue_arn=stack.messaging.dead_letter_queue.arn,
            catalogue_table_arn=stack.catalogue.table.arn,
            distribution_arn=stack.distribution.arn if stack.distribution else None,
        ),
    )
    return backfill


def _removal_workflow(stack: _Wiring) -> aws.sfn.StateMachine | None:
    """Removals (deleteDerivatives): renditions and backup follow a deleted original."""
    messaging, buckets = stack.messaging, stack.buckets
    if messaging.removal_queue is None:
        return None
    removal, _, _ = stack.machine(
        "removal",
        workflow_type=stack.settings.workflow_type,
        definition=_rendered(
            asl.REMOVAL_FILE,
            {
                **stack.common_values(),
                "DestinationBucketName": buckets.destination.bucket,
                "TopicArn": messaging.topic.arn,
                "CatalogueTableName": stack.catalogue.table.name,
                **_cdn(stack.distribution),
            },
            {},
        ),
        policy=iam.removal_policy(
            inspect_function_arn=stack.functions.inspect.arn,
            destination_bucket_arn=buckets.destination.arn,
            backup_bucket_arn=buckets.backup.arn,
            topic_arn=messaging.topic.arn,
            topic_key_arn=messaging.topic_key.arn,
            dead_letter_queue_arn=messaging.dead_letter_queue.arn,
            catalogue_table_arn=stack.catalogue.table.arn,
            distribution_arn=stack.distribution.arn if stack.distribution else None,
        ),
    )
    _pipe(
        stack.name,
        "removal",
        queue=messaging.removal_queue,
        state_machine=removal,
        description="One S3 removal event, one removal execution",
        account_id=stack.account_id,
        parent=stack.parent,
    )
    return removal
