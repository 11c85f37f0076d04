"""Pulumi entry point: load settings, build the pipeline, export its outputs."""

import pulumi

from infra.names import component_name
from infra.packaging import prebuilt
from infra.pipeline import ImagePipeline, ImagePipelineArgs
from infra.settings import load_settings
from infra.tags import apply_stack_tags

# Settings checks the stack name against every resource name it derives, by the same
# component_name, before any resource exists.
settings = load_settings()
# Every taggable resource registered from here on gets the stack's tags.
apply_stack_tags(pulumi.get_stack(), settings.tags)
# Prebuilt artifacts named in config (functionArchive, layerArchive) are deployed as they
# are; the rest is built from functions/.
args = ImagePipelineArgs(
    settings=settings,
    function_code=prebuilt(settings.function_archive) if settings.function_archive else None,
    layer=prebuilt(settings.layer_archive) if settings.layer_archive else None,
)
pipeline = ImagePipeline(component_name(pulumi.get_stack()), args)

pulumi.export("sourceBucket", pipeline.source_bucket)
pulumi.export("destinationBucket", pipeline.destination_bucket)
pulumi.export("backupBucket", pipeline.backup_bucket)
pulumi.export("stateMachineArn", pipeline.state_machine_arn)
pulumi.export("backfillStateMachineArn", pipeline.backfill_state_machine_arn)
pulumi.export("executionsConsoleUrl", pipeline.executions_console_url)
pulumi.export("deadLetterQueueUrl", pipeline.dead_letter_queue_url)
pulumi.export("topicArn", pipeline.topic_arn)
pulumi.export("catalogueTable", pipeline.catalogue_table)
pulumi.export("uploadCommand", pipeline.upload_command)
if pipeline.cdn_domain is not None:
    pulumi.export("cdnDomain", pipeline.cdn_domain)
if pipeline.renditions_base_url is not None:
    pulumi.export("renditionsBaseUrl", pipeline.renditions_base_url)
if pipeline.upload_api_url is not None:
    pulumi.export("uploadApiUrl", pipeline.upload_api_url)
if pipeline.removal_state_machine_arn is not None:
    pulumi.export("removalStateMachineArn", pipeline.removal_state_machine_arn)
# What the imagepipe commands need to know of the stack's config: from the outputs, they
# never read Pulumi.<stack>.yaml (which may not be on the operator's machine).
pulumi.export("uploadPrefix", settings.upload_prefix)
pulumi.export("allowedSuffixes", list(settings.allowed_suffixes))
pulumi.export("renditions", [r.to_dict() for r in settings.renditions])
