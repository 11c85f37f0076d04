"""Pulumi entry point: load settings, build the pipeline, export its outputs."""

import pulumi

from infra.pipeline import ImagePipeline, ImagePipelineArgs
from infra.settings import load_settings

settings = load_settings()
pipeline = ImagePipeline(f"imagepipe-{pulumi.get_stack()}", ImagePipelineArgs(settings=settings))

pulumi.export("sourceBucket", pipeline.source_bucket)
pulumi.export("destinationBucket", pipeline.destination_bucket)
pulumi.export("backupBucket", pipeline.backup_bucket)
pulumi.export("stateMachineArn", pipeline.state_machine_arn)
pulumi.export("backfillStateMachineArn", pipeline.backfill_state_machine_arn)
pulumi.export("executionsConsoleUrl", pipeline.executions_console_url)
pulumi.export("deadLetterQueueUrl", pipeline.dead_letter_queue_url)
pulumi.export("topicArn", pipeline.topic_arn)
pulumi.export("uploadCommand", pipeline.upload_command)
